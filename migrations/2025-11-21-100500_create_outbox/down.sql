DROP TABLE webhook_deliveries;
DROP TYPE webhook_delivery_state;
DROP TABLE outbox_events;
