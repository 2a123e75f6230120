//! The webhook body's schema, for the OpenAPI document and docs/webhooks.md. The dispatcher
//! builds the body from the outbox row; these types only describe it, and a test holds the
//! two together (every field sent is documented here, and every documented field is sent).
//! Fields are only ever added under `version` 1.

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
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The event's own fields (the credit, the reason); for a session's event also `session`.
    pub data: EventData,
}

/// Every event type. `session.partially_paid` is the "underpaid": a credit that left
/// the session short; it is `pending` again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub enum EventKind {
    #[serde(rename = "session.created")]
    Created,
    #[serde(rename = "session.processing")]
    Processing,
    #[serde(rename = "session.paid")]
    Paid,
    #[serde(rename = "session.partially_paid")]
    PartiallyPaid,
    #[serde(rename = "session.overpaid")]
    Overpaid,
    #[serde(rename = "session.released")]
    Released,
    #[serde(rename = "session.expired")]
    Expired,
    #[serde(rename = "session.cancelled")]
    Cancelled,
    #[serde(rename = "session.late_payment")]
    LatePayment,
    #[serde(rename = "session.recovered")]
    Recovered,
    #[serde(rename = "payment.unmatched")]
    Unmatched,
}

/// Which fields appear depends on the type; all are strings or numbers as documented.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventData {
    /// The session, as the event's transaction left it. Present on every event that names a
    /// session; the latest `session.version` is the session's current state.
    pub session: Option<SessionSnapshot>,
    pub session_id: Option<uuid::Uuid>,
    /// The transaction behind the event (credit, claim, release, late or unmatched payment).
    pub tx_hash: Option<String>,
    /// The operation credited (decimal u64 string).
    pub op_id: Option<String>,
    /// The amount this operation credited (7-decimal string).
    pub credited: Option<String>,
    /// For unmatched and late payments: the amount and asset paid, when known. For the other
    /// session events: the session's, as in `session` (kept at the top level since the first
    /// release; `session` is the complete, committed state).
    pub amount: Option<String>,
    pub asset: Option<String>,
    pub account: Option<String>,
    /// Session events: the session's fields at the moment of the event (see `session`).
    pub status: Option<String>,
    pub amount_received: Option<String>,
    pub overpaid: Option<bool>,
    pub reference: Option<String>,
    pub order_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub expires_at: Option<String>,
    pub ledger: Option<u32>,
    /// Why a payment credited no session, or why a claim was released.
    pub reason: Option<String>,
    /// Where a claim came from: `stream` or `client`.
    pub claim_source: Option<String>,
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
