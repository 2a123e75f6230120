CREATE TABLE idempotency_keys (
    key text PRIMARY KEY CHECK (key ~ '^[ -~]{1,255}$'),
    -- sha256 of the request, so a reused key with a different body is refused.
    request_fingerprint bytea NOT NULL CHECK (octet_length(request_fingerprint) = 32),
    response_status smallint CHECK (response_status BETWEEN 100 AND 599),
    -- Replayed byte for byte.
    response_body bytea,
    -- Set while the first request is in flight.
    locked_at timestamptz,
    session_id uuid REFERENCES sessions (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_body_needs_status
        CHECK (response_body IS NULL OR response_status IS NOT NULL)
);

CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
