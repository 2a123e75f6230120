ALTER TABLE sessions DROP CONSTRAINT sessions_processing_claim;
ALTER TABLE sessions DROP COLUMN claim_source;
ALTER TABLE sessions ADD CONSTRAINT sessions_processing_claim CHECK (
    CASE WHEN status = 'processing'
        THEN processing_tx_hash IS NOT NULL AND processing_started_at IS NOT NULL
        ELSE processing_tx_hash IS NULL AND processing_started_at IS NULL
    END
);
