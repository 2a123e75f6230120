-- The event feed in commit order. An event's id is taken at insert, and
-- transactions commit out of order, so a reader paging by id alone could pass
-- a lower id that commits later. Each row records its writing transaction;
-- the feed serves, in (xact_id, id) order, only rows whose transaction is older
-- than every transaction still running (pg_snapshot_xmin), so any row that
-- becomes visible later sorts after everything already served.
ALTER TABLE outbox_events
    ADD COLUMN xact_id xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX outbox_events_xact_id_id_idx ON outbox_events (xact_id, id);

-- Amounts as merchants see them: 7-decimal strings, as core's Amount prints.
CREATE FUNCTION orbitpay_amount_text(stroops bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (stroops::numeric / 10000000)::numeric(27, 7)::text
$$;

-- The session as an event carries it: its state when the event's transaction
-- wrote it (the outbox insert reads it after the change), with the version the
-- touch trigger bumps on every update, and every payment credited to it.
CREATE VIEW session_snapshots AS
SELECT s.id AS session_id,
       jsonb_build_object(
           'session_id', s.id,
           'version', s.version,
           'status', s.status,
           'account', s.account,
           'reference', s.reference::text,
           'asset', s.asset,
           'amount', orbitpay_amount_text(s.amount),
           'amount_received', orbitpay_amount_text(s.amount_received),
           'overpaid', s.amount_received > s.amount,
           'order_id', s.order_id,
           'metadata', s.metadata,
           'expires_at', s.expires_at,
           'created_at', s.created_at,
           'updated_at', s.updated_at,
           'payments', COALESCE(
               (SELECT jsonb_agg(jsonb_build_object(
                           'tx_hash', p.tx_hash,
                           'amount', orbitpay_amount_text(p.amount),
                           'asset', p.asset,
                           'ledger', p.ledger,
                           'created_at', p.created_at)
                       ORDER BY p.id)
                FROM payments p
                WHERE p.session_id = s.id),
               '[]'::jsonb)
       ) AS snapshot
FROM sessions s;

-- An admin retry or redelivery gives a delivery a fresh retry budget (attempts
-- and age count from here); its earlier attempts stay on record.
ALTER TABLE webhook_deliveries ADD COLUMN retried_at timestamptz;
