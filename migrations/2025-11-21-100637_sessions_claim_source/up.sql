-- Where a session's claim came from: 'stream' (the ledger stream or a catch-up page: the
-- transaction is on the ledger) or 'client_report' (a wallet's hash that may never land).
-- The recovery job and /v1/status tell them apart.
ALTER TABLE sessions ADD COLUMN claim_source text
    CHECK (claim_source IN ('stream', 'client_report'));

-- Claims open at upgrade: their origin is unknown, so they get the cautious one (confirmed
-- on the ledger before anything is decided; a stream claim is redelivered by the stream anyway).
UPDATE sessions SET claim_source = 'client_report' WHERE status = 'processing';

ALTER TABLE sessions DROP CONSTRAINT sessions_processing_claim;
-- A claimed session names the transaction, when, and where the claim came from; no other
-- state may carry a claim.
ALTER TABLE sessions ADD CONSTRAINT sessions_processing_claim CHECK (
    CASE WHEN status = 'processing'
        THEN processing_tx_hash IS NOT NULL AND processing_started_at IS NOT NULL
            AND claim_source IS NOT NULL
        ELSE processing_tx_hash IS NULL AND processing_started_at IS NULL
            AND claim_source IS NULL
    END
);
