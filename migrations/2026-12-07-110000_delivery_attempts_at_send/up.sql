-- An attempt is counted when its request is about to be sent (deliveries::start_attempt), no
-- longer when its lease is taken: a lease cut short by a kill sent nothing and must not spend
-- the delivery's retry budget. The attempt count then no longer tells one lease from the next
-- (a dispatcher may lease the same delivery again after its own lease expired), so each lease
-- is named by an id of its own, set at claim; rows leased before this migration have none
-- and are taken over once their lease expires.
ALTER TABLE webhook_deliveries ADD COLUMN lease_id uuid;
