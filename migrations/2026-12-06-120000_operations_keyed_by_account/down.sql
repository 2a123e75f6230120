-- The old keys cannot hold one operation handled on two accounts. Rather than drop the trace
-- of money (a credited operation, an unmatched payment), going back refuses while any exists.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM payment_operations GROUP BY op_id HAVING count(*) > 1)
        OR EXISTS (SELECT 1 FROM unmatched_payments GROUP BY op_id HAVING count(*) > 1) THEN
        RAISE EXCEPTION 'operations handled on more than one account: the older schema cannot hold them';
    END IF;
END
$$;

ALTER TABLE unmatched_payments DROP CONSTRAINT unmatched_payments_account_op_id_key;
ALTER TABLE unmatched_payments ADD CONSTRAINT unmatched_payments_op_id_key UNIQUE (op_id);

ALTER TABLE payment_operations DROP CONSTRAINT payment_operations_pkey;
ALTER TABLE payment_operations ADD PRIMARY KEY (op_id);
ALTER TABLE payment_operations DROP COLUMN account;
