DROP TABLE stream_cursors;
