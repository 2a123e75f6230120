ALTER TABLE unmatched_payments DROP CONSTRAINT unmatched_payments_memo_bytes_len;
UPDATE unmatched_payments SET memo_bytes = NULL WHERE memo_type IN ('hash', 'return');
COMMENT ON COLUMN unmatched_payments.memo_bytes IS NULL;
COMMENT ON COLUMN unmatched_payments.memo_value IS NULL;
COMMENT ON COLUMN unmatched_payments.detail IS NULL;
