ALTER TABLE webhook_deliveries DROP COLUMN lease_id;
