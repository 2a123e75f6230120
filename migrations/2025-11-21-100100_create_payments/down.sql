DROP TABLE payment_operations;
DROP TABLE payments;
