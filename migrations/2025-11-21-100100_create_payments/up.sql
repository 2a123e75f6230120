-- One row per (transaction, session) credited. The unique pair is what makes
-- replaying a transaction harmless.
CREATE TABLE payments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id),
    tx_hash text NOT NULL CHECK (tx_hash ~ '^[0-9a-f]{64}$'),
    amount bigint NOT NULL CHECK (amount > 0),
    asset text NOT NULL,
    ledger integer NOT NULL CHECK (ledger > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payments_tx_hash_session_id_key UNIQUE (tx_hash, session_id)
);

CREATE INDEX payments_session_id_idx ON payments (session_id);

-- The operations behind a payment. The primary key on the Horizon operation id
-- guarantees an operation is credited at most once.
CREATE TABLE payment_operations (
    op_id bigint PRIMARY KEY CHECK (op_id > 0),
    payment_id bigint NOT NULL REFERENCES payments (id),
    amount bigint NOT NULL CHECK (amount > 0)
);

CREATE INDEX payment_operations_payment_id_idx ON payment_operations (payment_id);
