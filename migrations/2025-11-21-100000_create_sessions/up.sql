-- Payment sessions: one expected payment to (account, reference).

CREATE TYPE session_status AS ENUM ('pending', 'processing', 'paid', 'expired', 'cancelled');

-- Every UPDATE bumps updated_at and version so optimistic concurrency and
-- change feeds cannot be forgotten by an individual query.
CREATE FUNCTION orbitpay_touch_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    NEW.version := OLD.version + 1;
    RETURN NEW;
END;
$$;

CREATE TABLE sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account text NOT NULL CHECK (account ~ '^G[A-Z2-7]{55}$'),
    -- u64: BIGINT would overflow above i64::MAX.
    reference numeric(20, 0) NOT NULL
        CHECK (reference >= 0 AND reference <= 18446744073709551615),
    asset text NOT NULL CHECK (asset = 'native' OR asset ~ '^[A-Za-z0-9]{1,12}:G[A-Z2-7]{55}$'),
    amount bigint NOT NULL CHECK (amount > 0),
    amount_received bigint NOT NULL DEFAULT 0 CHECK (amount_received >= 0),
    status session_status NOT NULL DEFAULT 'pending',
    processing_tx_hash text CHECK (processing_tx_hash ~ '^[0-9a-f]{64}$'),
    processing_started_at timestamptz,
    expires_at timestamptz NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    order_id text,
    webhook_url text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    version bigint NOT NULL DEFAULT 0,
    CONSTRAINT sessions_account_reference_key UNIQUE (account, reference),
    -- A claimed session always names the transaction that claimed it and when;
    -- no other state may carry a claim.
    CONSTRAINT sessions_processing_claim CHECK (
        CASE WHEN status = 'processing'
            THEN processing_tx_hash IS NOT NULL AND processing_started_at IS NOT NULL
            ELSE processing_tx_hash IS NULL AND processing_started_at IS NULL
        END
    )
);

CREATE TRIGGER sessions_touch BEFORE UPDATE ON sessions
    FOR EACH ROW EXECUTE FUNCTION orbitpay_touch_row();

-- Stuck-claim sweeper.
CREATE INDEX sessions_processing_started_at_idx ON sessions (processing_started_at)
    WHERE status = 'processing';
-- Expiry sweeper.
CREATE INDEX sessions_pending_expires_at_idx ON sessions (expires_at)
    WHERE status = 'pending';
CREATE INDEX sessions_order_id_idx ON sessions (order_id) WHERE order_id IS NOT NULL;
-- Keyset pagination.
CREATE INDEX sessions_created_at_id_idx ON sessions (created_at, id);
