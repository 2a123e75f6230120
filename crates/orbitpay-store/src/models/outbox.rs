use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::DeliveryState;
use crate::schema::{outbox_events, webhook_deliveries};

/// An event written in the same transaction as the change it reports.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, Identifiable)]
#[diesel(table_name = outbox_events, check_for_backend(diesel::pg::Pg))]
pub struct OutboxEventRow {
    /// Position in the feed.
    pub id: i64,
    /// Sent as the webhook id; receivers deduplicate on it.
    pub event_id: Uuid,
    pub event_type: String,
    pub session_id: Option<Uuid>,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = outbox_events, check_for_backend(diesel::pg::Pg))]
pub struct NewOutboxEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub session_id: Option<Uuid>,
    pub payload: serde_json::Value,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::pg::Pg))]
pub struct WebhookDeliveryRow {
    pub id: i64,
    pub event_id: Uuid,
    pub url: String,
    pub state: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The last admin retry or redelivery: the retry budget counts from here.
    pub retried_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::pg::Pg))]
pub struct NewWebhookDelivery {
    pub event_id: Uuid,
    pub url: String,
}
