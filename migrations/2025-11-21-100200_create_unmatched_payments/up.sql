CREATE TYPE unmatched_reason AS ENUM (
    'unknown_reference',
    'wrong_asset',
    'already_paid',
    'session_expired',
    'session_cancelled',
    'ambiguous_reference',
    'unsupported_operation',
    'no_reference'
);

-- Money that reached a watched account but credited no session. Kept verbatim
-- for refunds and support, so most columns are nullable: a payment we cannot
-- interpret must still be recorded.
CREATE TABLE unmatched_payments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    op_id bigint NOT NULL UNIQUE CHECK (op_id > 0),
    tx_hash text NOT NULL CHECK (tx_hash ~ '^[0-9a-f]{64}$'),
    account text NOT NULL,
    -- Contract (SAC) amounts are i128.
    amount numeric(39, 0),
    asset text,
    from_address text,
    memo_type text CHECK (memo_type IN ('none', 'text', 'id', 'hash', 'return')),
    memo_value text,
    -- Text memos are 28 arbitrary bytes, not necessarily UTF-8.
    memo_bytes bytea,
    muxed_id numeric(20, 0) CHECK (muxed_id >= 0 AND muxed_id <= 18446744073709551615),
    reason unmatched_reason NOT NULL,
    session_id uuid REFERENCES sessions (id),
    ledger integer,
    detail text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX unmatched_payments_created_at_id_idx ON unmatched_payments (created_at, id);
CREATE INDEX unmatched_payments_session_id_idx ON unmatched_payments (session_id)
    WHERE session_id IS NOT NULL;
