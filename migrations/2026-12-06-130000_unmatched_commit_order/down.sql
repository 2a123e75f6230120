DROP FUNCTION orbitpay_feed_bound();
DROP INDEX unmatched_payments_xact_id_id_idx;
ALTER TABLE unmatched_payments DROP COLUMN xact_id;
