ALTER TABLE payments DROP COLUMN inner_tx_hash;
