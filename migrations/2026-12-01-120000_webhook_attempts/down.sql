DROP INDEX webhook_deliveries_open_event_url_idx;
DROP TABLE webhook_attempts;
DROP TABLE webhook_endpoints;
