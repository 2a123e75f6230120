//! The event feed's response shapes.

use chrono::{DateTime, Utc};
use orbitpay_store::models::OutboxEventRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::admin::webhooks::DeliveryStatusView;

/// An outbox event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    /// Position in the feed; pass as `after`.
    pub id: i64,
    /// Stable id; webhook receivers deduplicate on it, and `GET /v1/events/{event_id}` and
    /// `POST /v1/events/{event_id}/redeliver` take it.
    pub event_id: Uuid,
    #[serde(rename = "type")]
    #[schema(example = "session.paid")]
    pub kind: String,
    pub session_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    pub data: Vec<EventView>,
    pub next_after: Option<i64>,
}

impl From<&OutboxEventRow> for EventView {
    fn from(e: &OutboxEventRow) -> Self {
        EventView {
            id: e.id,
            event_id: e.event_id,
            kind: e.event_type.clone(),
            session_id: e.session_id,
            payload: e.payload.clone(),
            created_at: e.created_at,
        }
    }
}

/// One event, with where each of its webhook deliveries stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventDetail {
    #[serde(flatten)]
    pub event: EventView,
    /// One per endpoint, oldest first, each with its last attempt.
    pub deliveries: Vec<DeliveryStatusView>,
}
