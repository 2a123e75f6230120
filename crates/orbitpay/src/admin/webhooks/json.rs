//! The webhook queue's request and response shapes.

use chrono::{DateTime, Utc};
use orbitpay_store::deliveries::AttemptRow;
use orbitpay_store::models::WebhookDeliveryRow;
use orbitpay_store::timeline::DeliveryStatus;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Only deliveries in this state: pending, delivering, delivered or dead.
    #[param(value_type = Option<DeliveryStateSchema>)]
    pub status: Option<String>,
    /// The `next_after` of the previous page (default 0: from the start).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A delivery's state.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = DeliveryState)]
pub enum DeliveryStateSchema {
    Pending,
    Delivering,
    Delivered,
    Dead,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    /// The event, also the `webhook-id` header.
    pub event_id: Uuid,
    pub url: String,
    #[schema(example = "pending")]
    pub status: String,
    /// Attempts since creation or the last admin retry.
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub retried_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub latency_ms: i32,
    /// The HTTP status; absent when no response came (timeout, refused, dropped).
    pub status: Option<i32>,
    pub error: Option<String>,
    /// The first KiB of the response body.
    pub response_snippet: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: DeliveryView,
    pub attempts_made: Vec<AttemptView>,
}

/// A delivery where it stands: its state and its most recent attempt (null before the first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryStatusView {
    #[serde(flatten)]
    pub delivery: DeliveryView,
    pub last_attempt: Option<AttemptView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryPage {
    pub data: Vec<DeliveryView>,
    pub next_after: Option<i64>,
}

/// `POST /v1/webhooks/endpoint/enable` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnableRequest {
    /// The endpoint; default: the configured `webhooks.url`.
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EnableView {
    pub url: String,
    /// False when it was not disabled.
    pub was_disabled: bool,
}

impl From<&WebhookDeliveryRow> for DeliveryView {
    fn from(d: &WebhookDeliveryRow) -> Self {
        DeliveryView {
            id: d.id,
            event_id: d.event_id,
            url: d.url.clone(),
            status: d.state.as_str().to_owned(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            delivered_at: d.delivered_at,
            created_at: d.created_at,
            retried_at: d.retried_at,
        }
    }
}

impl From<&AttemptRow> for AttemptView {
    fn from(a: &AttemptRow) -> Self {
        AttemptView {
            attempt: a.attempt,
            started_at: a.started_at,
            latency_ms: a.latency_ms,
            status: a.status,
            error: a.error.clone(),
            response_snippet: a.response_snippet.clone(),
        }
    }
}

impl From<&DeliveryStatus> for DeliveryStatusView {
    fn from(d: &DeliveryStatus) -> Self {
        DeliveryStatusView {
            delivery: DeliveryView::from(&d.delivery),
            last_attempt: d.last_attempt.as_ref().map(AttemptView::from),
        }
    }
}
