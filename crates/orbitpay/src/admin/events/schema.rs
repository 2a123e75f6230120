//! The webhook body's schema, for the OpenAPI document and docs/webhooks.md. The `data` the
//! store writes is typed in [`orbitpay_store::events`] and described from that very
//! definition; this module only adds the envelope the dispatcher wraps it in and the
//! `session` snapshot the outbox merges in. An end-to-end test reads every body sent back
//! through these types and writes it out again unchanged (nothing sent is undocumented, and
//! nothing documented is missing). Fields are only ever added under `version` 1.

use orbitpay_store::events::EventData;
use orbitpay_store::outbox::EventType;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A webhook request body (Standard Webhooks: `webhook-id` = `id`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEnvelope {
    /// The envelope's schema version: 1.
    pub version: u32,
    /// The event id (UUIDv7), stable across retries, redeliveries and instances.
    pub id: uuid::Uuid,
    /// Which event: `session.partially_paid` is the "underpaid" one, a credit that left the
    /// session short (it is `pending` again).
    #[serde(rename = "type")]
    pub kind: EventType,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub data: DeliveredData,
}

/// The event's own fields (the credit, the reason; their shape depends on the type) and, for
/// a session's event, `session`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveredData {
    /// The session, as the event's transaction left it. Present on every event that names a
    /// session; the latest `session.version` is the session's current state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionSnapshot>,
    #[serde(flatten)]
    pub event: EventData,
}

/// A session's full state.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionSnapshot {
    pub session_id: uuid::Uuid,
    /// Increases with every committed change; events from one change share it.
    pub version: i64,
    #[schema(example = "paid")]
    pub status: String,
    pub account: String,
    /// The memo id / muxed id that names the session (decimal u64).
    pub reference: String,
    pub asset: String,
    #[schema(example = "12.5000000")]
    pub amount: String,
    pub amount_received: String,
    pub overpaid: bool,
    pub order_id: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub expires_at: String,
    pub created_at: String,
    pub updated_at: String,
    pub payments: Vec<SnapshotPayment>,
}

/// One transaction's credit to the session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotPayment {
    pub tx_hash: String,
    pub amount: String,
    pub asset: String,
    pub ledger: u32,
    pub created_at: String,
}
