-- The operator page's search by reference names no account, and the unique key is
-- (account, reference): without this, a search walks the sessions newest first (200 ms at 1M).
CREATE INDEX sessions_reference_idx ON sessions (reference);
