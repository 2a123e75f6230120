ALTER TABLE payments DROP COLUMN from_address;
