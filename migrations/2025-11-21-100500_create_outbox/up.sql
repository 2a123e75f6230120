-- Transactional outbox: events are written in the same transaction as the
-- state change they describe; id orders the feed.
CREATE TABLE outbox_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    event_type text NOT NULL,
    session_id uuid REFERENCES sessions (id),
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX outbox_events_session_id_idx ON outbox_events (session_id)
    WHERE session_id IS NOT NULL;

CREATE TYPE webhook_delivery_state AS ENUM ('pending', 'delivering', 'delivered', 'dead');

CREATE TABLE webhook_deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id uuid NOT NULL REFERENCES outbox_events (event_id),
    url text NOT NULL,
    state webhook_delivery_state NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_owner text,
    lease_until timestamptz,
    last_status integer,
    last_error text,
    delivered_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Fan-out of an event to an endpoint happens once.
    CONSTRAINT webhook_deliveries_event_id_url_key UNIQUE (event_id, url),
    CONSTRAINT webhook_deliveries_lease_pair
        CHECK ((lease_owner IS NULL) = (lease_until IS NULL)),
    CONSTRAINT webhook_deliveries_delivered_at
        CHECK ((state = 'delivered') = (delivered_at IS NOT NULL))
);

-- The dispatcher's work queue.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
-- Leases of crashed dispatchers.
CREATE INDEX webhook_deliveries_lease_until_idx ON webhook_deliveries (lease_until)
    WHERE state = 'delivering';
