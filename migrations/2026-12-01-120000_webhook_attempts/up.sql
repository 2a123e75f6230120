-- Endpoints the dispatcher knows: the configured default (is_default) and any a
-- session named. A 410 Gone disables an endpoint until an admin re-enables it;
-- its deliveries stay pending meanwhile.
CREATE TABLE webhook_endpoints (
    url text PRIMARY KEY,
    is_default boolean NOT NULL DEFAULT false,
    disabled_at timestamptz,
    disabled_reason text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_endpoints_disabled_pair
        CHECK ((disabled_at IS NULL) = (disabled_reason IS NULL))
);

-- At most one default endpoint.
CREATE UNIQUE INDEX webhook_endpoints_one_default ON webhook_endpoints ((true))
    WHERE is_default;

-- Every POST the dispatcher made, recorded after the response (or failure).
CREATE TABLE webhook_attempts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt integer NOT NULL CHECK (attempt > 0),
    lease_owner text NOT NULL,
    started_at timestamptz NOT NULL,
    latency_ms integer NOT NULL CHECK (latency_ms >= 0),
    status integer,
    error text,
    response_snippet text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhook_attempts_delivery_id_idx ON webhook_attempts (delivery_id);

-- Ordering: the dispatcher looks for an earlier undelivered delivery of the
-- same session and URL.
CREATE INDEX webhook_deliveries_open_event_url_idx ON webhook_deliveries (event_id, url)
    WHERE state IN ('pending', 'delivering');
