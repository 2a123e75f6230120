DROP TABLE unmatched_payments;
DROP TYPE unmatched_reason;
