-- Outgoing payments: the watched accounts' own payments, path payments and claimable balances
-- that look like refunds (docs/refunds.md, "Completed by the ledger"), each handled once per
-- (account, op_id) like an incoming payment. A row either completed a refund (refund_id, in
-- the same transaction that set the refund's tx_hash and closed_at) or completed none and says
-- why (reason): money that went out and that the merchant should see, never guessed at.
-- A plain payment to a supplier is no refund and leaves no row.
CREATE TABLE outgoing_payments (
    id bigserial PRIMARY KEY,
    account text NOT NULL,
    op_id bigint NOT NULL,
    tx_hash text NOT NULL,
    ledger integer NOT NULL,
    -- The ledger's close time (NULL only when the source gave none).
    closed_at timestamptz,
    method text NOT NULL CHECK (method IN ('payment', 'claimable_balance')),
    -- G... or M...; NULL for a claimable balance with several claimants besides the account.
    destination text,
    asset text NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    -- As unmatched_payments and refunds.
    memo_type text NOT NULL CHECK (memo_type IN ('none', 'text', 'id', 'hash', 'return')),
    memo_value text,
    memo_bytes bytea,
    refund_id uuid REFERENCES refunds (id),
    reason text CHECK (reason IN ('wrong_amount', 'wrong_memo', 'refund_canceled',
                                  'refund_completed', 'no_refund', 'no_close_time')),
    -- The refund the row is nearest to, for a reason naming one (wrong amount or memo,
    -- canceled, completed already).
    near_refund_id uuid REFERENCES refunds (id),
    raw_operation jsonb,
    xact_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT outgoing_payments_account_op UNIQUE (account, op_id),
    CONSTRAINT outgoing_payments_completed_or_why CHECK ((refund_id IS NULL) <> (reason IS NULL))
);
-- A refund is completed by one operation.
CREATE UNIQUE INDEX outgoing_payments_refund_idx ON outgoing_payments (refund_id)
    WHERE refund_id IS NOT NULL;
CREATE INDEX outgoing_payments_unmatched_idx ON outgoing_payments (xact_id, id)
    WHERE reason IS NOT NULL;
-- The refunds an outgoing payment may complete or come near: every status, by destination
-- (refunds_awaiting_idx covers awaiting ones only).
CREATE INDEX refunds_destination_idx ON refunds (account, destination);
