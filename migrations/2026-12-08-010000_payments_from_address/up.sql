-- The payer of a session's payment: the operation's `from`, in its muxed `M...` form when the
-- payer paid from a muxed account, so a refund of the session (its overpaid part) can go back
-- to whoever paid. Null for payments settled before this column, and for a contract transfer
-- whose sender Horizon did not name.
ALTER TABLE payments ADD COLUMN from_address text;
