-- Ledger records that could not be read (not JSON, or missing the fields that tie them to an
-- operation) on every read the follower made. The follower's cursor moved past each one in
-- the transaction that inserted it, so this row is the only trace of whatever money it held:
-- the reconciliation job re-fetches it by its token and, once it reads, credits it through
-- the matcher's idempotent path and sets resolved_at.
CREATE TABLE unreadable_records (
    account text NOT NULL,
    -- Horizon's paging token, which on the payments endpoint is the operation id.
    paging_token bigint NOT NULL CHECK (paging_token > 0),
    -- The record as received, capped at 64 KiB.
    raw bytea NOT NULL CHECK (octet_length(raw) <= 65536),
    raw_truncated boolean NOT NULL DEFAULT false,
    parse_error text NOT NULL,
    -- Reads that found it unreadable: the follower's, then the reconciliation job's.
    attempts integer NOT NULL CHECK (attempts >= 1),
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    PRIMARY KEY (account, paging_token)
);

-- The reconciliation job's work list (unresolved, oldest first).
CREATE INDEX unreadable_records_unresolved_idx ON unreadable_records (first_seen, paging_token)
    WHERE resolved_at IS NULL;
