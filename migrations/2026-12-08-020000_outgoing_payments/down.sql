DROP INDEX refunds_destination_idx;
DROP TABLE outgoing_payments;
