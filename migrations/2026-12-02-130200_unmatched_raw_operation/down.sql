ALTER TABLE unmatched_payments DROP COLUMN raw_operation;
