ALTER TABLE webhook_deliveries DROP COLUMN retried_at;
DROP VIEW session_snapshots;
DROP FUNCTION orbitpay_amount_text(bigint);
DROP INDEX outbox_events_xact_id_id_idx;
ALTER TABLE outbox_events DROP COLUMN xact_id;
