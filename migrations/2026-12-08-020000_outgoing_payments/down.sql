DROP TABLE outgoing_payments;
