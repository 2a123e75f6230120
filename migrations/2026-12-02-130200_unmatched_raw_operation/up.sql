-- Every credit leaves a row with its details: the operation as the source sent it, so money
-- orbitpay could not interpret can still be refunded (amount, asset, sender are in it). At most
-- 64 KiB of JSON; above that a marker {"omitted": ..., "bytes": n}. Strings holding NUL, which
-- jsonb refuses, are stored escaped. Rows written before this migration have none.
ALTER TABLE unmatched_payments ADD COLUMN raw_operation jsonb;
