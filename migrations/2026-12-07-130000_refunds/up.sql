-- Refunds: money orbitpay must not keep, prepared as an unsigned transaction the merchant
-- signs. A refund has exactly one source: an unmatched payment, or a session (its overpaid
-- part, or less). What the non-canceled refunds of one source add up to never exceeds what
-- it received; the store checks that under the source row's lock (refunds::create).
--
-- Completion (issue 25 §2) is the ledger's: an outgoing payment or claimable balance of the
-- account with the refund's destination, asset, amount and memo sets tx_hash and closed_at
-- in the cursor's transaction; refunds_awaiting_idx is that lookup.
CREATE TABLE refunds (
    id uuid PRIMARY KEY,
    unmatched_id bigint REFERENCES unmatched_payments (id),
    session_id uuid REFERENCES sessions (id),
    -- The merchant account the money came in to and goes back from (the envelope's source).
    account text NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    asset text NOT NULL,
    -- G... or M... (a muxed payer is paid back at its M address).
    destination text NOT NULL,
    -- As unmatched_payments: memo_value is the decimal id, the escaped text, or the hex of a
    -- hash/return memo; memo_bytes the exact bytes of a text, hash or return memo.
    memo_type text NOT NULL CHECK (memo_type IN ('none', 'text', 'id', 'hash', 'return')),
    memo_value text,
    memo_bytes bytea,
    method text NOT NULL CHECK (method IN ('payment', 'claimable_balance')),
    status text NOT NULL DEFAULT 'awaiting_signature'
        CHECK (status IN ('awaiting_signature', 'completed', 'canceled')),
    -- The latest unsigned envelope (base64 XDR), the sequence number it carries and the
    -- end of its time bounds; prepare replaces all three.
    envelope_xdr text NOT NULL,
    sequence bigint NOT NULL,
    valid_until timestamptz NOT NULL,
    tx_hash text,
    closed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT refunds_one_source CHECK ((unmatched_id IS NULL) <> (session_id IS NULL)),
    CONSTRAINT refunds_completed_by_the_ledger
        CHECK ((status = 'completed') = (tx_hash IS NOT NULL AND closed_at IS NOT NULL))
);
CREATE INDEX refunds_unmatched_id_idx ON refunds (unmatched_id) WHERE unmatched_id IS NOT NULL;
CREATE INDEX refunds_session_id_idx ON refunds (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX refunds_awaiting_idx ON refunds (account, destination, asset, amount)
    WHERE status = 'awaiting_signature';
