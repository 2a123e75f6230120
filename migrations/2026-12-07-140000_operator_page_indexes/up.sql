-- The operator page's lists and figures, each one indexed range read at a million sessions.
-- Search by status, newest first.
CREATE INDEX sessions_status_created_at_id_idx ON sessions (status, created_at, id);
-- Search by the transaction holding a claim.
CREATE INDEX sessions_processing_tx_hash_idx ON sessions (processing_tx_hash)
    WHERE processing_tx_hash IS NOT NULL;
-- Overpaid sessions (derived, so only a partial index can find them).
CREATE INDEX sessions_overpaid_idx ON sessions (created_at, id)
    WHERE amount_received > amount;
-- Search by a fee-bump's inner hash.
CREATE INDEX payments_inner_tx_hash_idx ON payments (inner_tx_hash)
    WHERE inner_tx_hash IS NOT NULL;
-- Money credited today.
CREATE INDEX payments_created_at_idx ON payments (created_at);
-- Dead and retrying deliveries.
CREATE INDEX webhook_deliveries_dead_idx ON webhook_deliveries (id) WHERE state = 'dead';
CREATE INDEX webhook_deliveries_retrying_idx ON webhook_deliveries (id)
    WHERE state = 'pending' AND attempts > 0;
