//! What an event's `data` holds, typed: the one definition the store writes every event from
//! and the admin API's OpenAPI document describes (with the `schema` feature), so the two
//! cannot drift. The outbox adds `session` (the committed snapshot) at insert.
//!
//! These shapes are the merchants' contract (docs/webhooks.md): fields are only ever added.
//! A field that is `null` is sent as `null`, never left out. Amounts are 7-decimal strings
//! and u64 ids decimal strings.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::{NewOutboxEvent, Session};
use crate::outbox::{self, EventType};

/// A session's fields, as an event that changes its money or claim states them
/// (`session.processing`, `.paid`, `.partially_paid`, `.overpaid`, `.released`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct SessionChange {
    pub session_id: Uuid,
    pub status: String,
    pub account: String,
    /// The memo id / muxed id that names the session (decimal u64).
    pub reference: String,
    pub asset: String,
    pub amount: String,
    pub amount_received: String,
    pub overpaid: bool,
    pub order_id: Option<String>,
}

impl SessionChange {
    pub fn of(s: &Session) -> SessionChange {
        SessionChange {
            session_id: s.id,
            status: s.status.as_str().to_owned(),
            account: s.account.to_string(),
            reference: s.reference.to_string(),
            asset: s.asset.to_string(),
            amount: s.amount.to_string(),
            amount_received: s.amount_received.to_string(),
            overpaid: s.is_overpaid(),
            order_id: s.order_id.clone(),
        }
    }
}

/// A session's fields, as its lifecycle events state them (`session.created`, `.cancelled`,
/// `.expired`, and `.recovered`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct SessionState {
    pub session_id: Uuid,
    pub status: String,
    pub account: String,
    /// The memo id / muxed id that names the session (decimal u64).
    pub reference: String,
    pub asset: String,
    pub amount: String,
    pub amount_received: String,
    pub order_id: Option<String>,
    #[cfg_attr(feature = "schema", schema(value_type = Object))]
    pub metadata: serde_json::Value,
    pub expires_at: DateTime<Utc>,
}

impl SessionState {
    pub fn of(s: &Session) -> SessionState {
        SessionState {
            session_id: s.id,
            status: s.status.as_str().to_owned(),
            account: s.account.to_string(),
            reference: s.reference.to_string(),
            asset: s.asset.to_string(),
            amount: s.amount.to_string(),
            amount_received: s.amount_received.to_string(),
            order_id: s.order_id.clone(),
            metadata: s.metadata.clone(),
            expires_at: s.expires_at,
        }
    }
}

/// An operation credited to the session (`session.paid`, `.partially_paid`, `.overpaid`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Credited {
    #[serde(flatten)]
    pub session: SessionChange,
    pub tx_hash: String,
    /// The operation credited (decimal u64).
    pub op_id: String,
    /// What this operation credited.
    pub credited: String,
    pub ledger: u32,
}

/// A transaction claimed the session (`session.processing`); settlement follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Claimed {
    #[serde(flatten)]
    pub session: SessionChange,
    pub tx_hash: String,
    /// Where the claim came from: `stream` or `client_report`.
    pub claim_source: String,
}

/// A claim was dropped (`session.released`): the session is `pending` again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Released {
    #[serde(flatten)]
    pub session: SessionChange,
    pub tx_hash: String,
    /// Why the claim was released.
    pub reason: String,
}

/// The recovery job resolved a claim left open (`session.recovered`), beside the event of
/// what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Recovered {
    #[serde(flatten)]
    pub session: SessionState,
    pub tx_hash: String,
    /// `settled` or `released`.
    pub action: String,
    /// Where the claim came from: `stream` or `client_report`.
    pub claim_source: String,
    /// How old the claim was, by the database's clock (whole seconds).
    pub claim_age_seconds: f64,
}

/// Money that credited no session (`payment.unmatched`), or came too late for its session
/// (`session.late_payment`): recorded, not credited; refund it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct UnmatchedPayment {
    /// The operation (decimal u64).
    pub op_id: String,
    pub tx_hash: String,
    pub account: String,
    /// The amount and asset paid, when known.
    pub amount: Option<String>,
    pub asset: Option<String>,
    /// Why it credited no session (`UnmatchedReason`).
    pub reason: String,
    /// The session a late payment was for.
    pub session_id: Option<Uuid>,
    pub ledger: u32,
}

/// A refund's fields (`refund.created`, `.completed`, `.canceled`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct RefundChange {
    pub refund_id: Uuid,
    /// `awaiting_signature`, `completed` or `canceled`.
    pub status: String,
    /// The source: an unmatched payment's id, or a session.
    pub unmatched_id: Option<i64>,
    pub session_id: Option<Uuid>,
    pub account: String,
    pub amount: String,
    pub asset: String,
    pub destination: String,
    /// `payment` or `claimable_balance`.
    pub method: String,
    /// The refund's transaction on the ledger, once completed.
    pub tx_hash: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl RefundChange {
    pub fn of(r: &crate::models::RefundRow) -> RefundChange {
        RefundChange {
            refund_id: r.id,
            status: r.status.clone(),
            unmatched_id: r.unmatched_id,
            session_id: r.session_id,
            account: r.account.clone(),
            amount: orbitpay_core::Amount::from_stroops(r.amount)
                .map(|a| a.to_string())
                .unwrap_or_else(|_| r.amount.to_string()),
            asset: r.asset.clone(),
            destination: r.destination.clone(),
            method: r.method.clone(),
            tx_hash: r.tx_hash.clone(),
            closed_at: r.closed_at,
        }
    }
}

/// An event's `data`, by shape (which types have which shape is in each shape's doc).
/// Untagged: the type travels beside it (`type` in the webhook body, `event_type` in the
/// outbox), and each shape's fields tell them apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum EventData {
    Recovered(Recovered),
    Credited(Credited),
    Claimed(Claimed),
    Released(Released),
    Unmatched(UnmatchedPayment),
    Session(SessionState),
    Refund(RefundChange),
}

impl EventData {
    /// The session the event is about (a late payment's, for unmatched money).
    pub fn session_id(&self) -> Option<Uuid> {
        match self {
            EventData::Recovered(e) => Some(e.session.session_id),
            EventData::Credited(e) => Some(e.session.session_id),
            EventData::Claimed(e) => Some(e.session.session_id),
            EventData::Released(e) => Some(e.session.session_id),
            EventData::Unmatched(e) => e.session_id,
            EventData::Session(e) => Some(e.session_id),
            EventData::Refund(e) => e.session_id,
        }
    }

    /// The outbox row announcing this as `event_type`.
    pub fn event(&self, event_type: EventType) -> NewOutboxEvent {
        let payload = serde_json::to_value(self).expect("event data serializes");
        outbox::event(event_type, self.session_id(), payload)
    }
}

macro_rules! from_shape {
    ($($shape:ident),*) => {$(
        impl From<$shape> for EventData {
            fn from(e: $shape) -> EventData {
                EventData::$shape(e)
            }
        }
    )*};
}
from_shape!(Recovered, Credited, Claimed, Released);

impl From<UnmatchedPayment> for EventData {
    fn from(e: UnmatchedPayment) -> EventData {
        EventData::Unmatched(e)
    }
}

impl From<RefundChange> for EventData {
    fn from(e: RefundChange) -> EventData {
        EventData::Refund(e)
    }
}

impl From<SessionState> for EventData {
    fn from(e: SessionState) -> EventData {
        EventData::Session(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_type_is_written_under_the_name_it_is_sent_as() {
        for t in EventType::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }
}
