-- One contract operation (a Soroban split payment, a multicall) can pay several watched
-- accounts, and each account's payments list carries it under the same operation id. Keyed by
-- the id alone, the first account to settle it made every other account read it as handled
-- (its session never credited), or, settling at the same moment, fail on the key. What is
-- handled is therefore (account, operation): the account whose stream or report carried it.

-- A credited operation belongs to its payment's session's account: settlement only credits
-- sessions of the account it settles for.
ALTER TABLE payment_operations ADD COLUMN account text;
UPDATE payment_operations o SET account = s.account
    FROM payments p JOIN sessions s ON s.id = p.session_id
    WHERE p.id = o.payment_id;
ALTER TABLE payment_operations ALTER COLUMN account SET NOT NULL;
ALTER TABLE payment_operations DROP CONSTRAINT payment_operations_pkey;
ALTER TABLE payment_operations ADD PRIMARY KEY (account, op_id);

-- Unmatched rows always held the account that recorded them.
ALTER TABLE unmatched_payments DROP CONSTRAINT unmatched_payments_op_id_key;
ALTER TABLE unmatched_payments ADD CONSTRAINT unmatched_payments_account_op_id_key
    UNIQUE (account, op_id);
