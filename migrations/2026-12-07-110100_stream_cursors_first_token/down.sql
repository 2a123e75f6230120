ALTER TABLE stream_cursors DROP COLUMN first_token;
