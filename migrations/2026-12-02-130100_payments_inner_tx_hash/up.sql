-- A fee-bump's inner hash (what the payer's wallet signed, and may report) beside the outer
-- one the row is keyed by: a report under either hash finds the payment. Rows written before
-- this migration have none.
ALTER TABLE payments ADD COLUMN inner_tx_hash text CHECK (inner_tx_hash ~ '^[0-9a-f]{64}$');
