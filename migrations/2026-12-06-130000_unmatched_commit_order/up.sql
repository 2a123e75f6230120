-- The unmatched feed in commit order, as the event feed is: a row's id is taken at insert,
-- mid-transaction, so a poller paging by id alone could pass a row that commits later. Each
-- row records its writing transaction, and both feeds serve, in (xact_id, id) order, only rows
-- below orbitpay_feed_bound(); rows written before this migration share its transaction.
ALTER TABLE unmatched_payments
    ADD COLUMN xact_id xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX unmatched_payments_xact_id_id_idx ON unmatched_payments (xact_id, id);

-- The transaction id every in-flight writer of this database is at or above: the snapshot's
-- xmax, lowered to the oldest transaction still running that is not positively known (from
-- pg_stat_activity) to belong to another database. A row whose xact_id is below it is
-- committed or never will be, and any row that becomes visible later sorts after it. A
-- transaction that ends between the snapshot and the activity read is simply not excluded, so
-- the bound errs low, never high; without the privilege to see other users' sessions, it is
-- the cluster's.
CREATE FUNCTION orbitpay_feed_bound() RETURNS xid8
LANGUAGE sql STABLE AS $$
    WITH snap AS (SELECT pg_current_snapshot() AS s),
    elsewhere AS (
        SELECT a.backend_xid::text::bigint AS xid
        FROM pg_stat_activity a
        WHERE a.backend_xid IS NOT NULL AND a.datname IS DISTINCT FROM current_database())
    SELECT LEAST(
        pg_snapshot_xmax(snap.s),
        (SELECT min(x) FROM pg_snapshot_xip(snap.s) AS x
         WHERE (x::text::numeric % 4294967296)::bigint NOT IN (SELECT xid FROM elsewhere)))
    FROM snap
$$;
