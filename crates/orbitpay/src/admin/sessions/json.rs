//! The session resource's JSON: its requests, and its views built from the store's domain types. Amounts are
//! 7-decimal strings (never JSON numbers), references and muxed ids decimal strings (u64).

use chrono::{DateTime, Utc};
use orbitpay_core::{MuxedAccount, PositiveAmount};
use orbitpay_store::models::{PaymentRow, Session};
use orbitpay_store::timeline::TimelineEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use serde_json::value::RawValue;
use utoipa::IntoParams;

use super::pay_uri::pay_uri;
use crate::admin::state::ReportOutcome;
use crate::admin::webhooks::DeliveryStatusView;

/// `POST /v1/sessions` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// Decimal string, > 0 with at most 7 decimals; parsed exactly from its text.
    #[schema(schema_with = super::amount_schema::amount_schema)]
    pub amount: Box<RawValue>,
    /// `native` or `CODE:ISSUER`.
    #[schema(example = "USDC:GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN")]
    pub asset: String,
    /// Which watched account receives the payment; the first configured one by default.
    #[serde(default)]
    pub account: Option<String>,
    /// Seconds until the session expires (60 to 2678400); the configured default otherwise.
    #[serde(
        default,
        deserialize_with = "crate::admin::support::input::whole_number"
    )]
    #[schema(minimum = 60, maximum = 2678400)]
    pub expires_in: Option<u64>,
    /// The merchant's order reference (at most 255 characters). Text fields, metadata keys and
    /// values and query parameters never hold NUL (U+0000): 400 INVALID_CHARACTER.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255)]
    pub order_id: Option<String>,
    /// Any JSON object, at most 16 KiB; echoed back and in events.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Overrides the webhook endpoint for this session's events: an http(s) URL.
    #[serde(default)]
    #[schema(
        max_length = 2048,
        pattern = "^[Hh][Tt][Tt][Pp][Ss]?://(([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\\.)*[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))(:[0-9]{1,4})?(/[!-~]*)?$"
    )]
    pub webhook_url: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListSessionsParams {
    /// Only sessions in this status.
    #[param(value_type = Option<SessionStatusSchema>)]
    pub status: Option<String>,
    /// Only sessions with this order id.
    pub order_id: Option<String>,
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `next_after` of the previous page.
    pub after: Option<Uuid>,
}

/// `POST /v1/sessions/{id}/payments` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportTxRequest {
    /// The transaction's hash, 64 hex characters.
    #[schema(
        example = "b9d0b2292c4e09e8eb22d036171491e87b8d2086bf8b265874c8d182cb9c9020",
        pattern = "^[0-9a-fA-F]{64}$"
    )]
    pub tx_hash: String,
}

/// A session's state (see docs/architecture.md).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = SessionStatus)]
pub enum SessionStatusSchema {
    Pending,
    Processing,
    Paid,
    Expired,
    Cancelled,
}

/// A payment session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    #[schema(value_type = SessionStatusSchema)]
    pub status: String,
    /// Expected amount, 7 decimals.
    #[schema(example = "12.5000000")]
    pub amount: String,
    /// Credited so far, 7 decimals.
    #[schema(example = "0.0000000")]
    pub amount_received: String,
    /// More than the amount was received.
    pub overpaid: bool,
    /// `native` or `CODE:ISSUER`.
    #[schema(example = "USDC:GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN")]
    pub asset: String,
    /// The receiving account (G).
    pub account: String,
    /// The session's reference on its account (u64, as a decimal string).
    pub reference: String,
    /// Whether the session can take a payment now: `pending`, or `processing` with part of
    /// the amount still owed. Derived from the status and the amounts, never stored.
    pub payable: bool,
    /// How to pay what is still owed; present only while `payable`, `null` once the session
    /// is paid, expired or cancelled (a payment then would only be a late one).
    pub payment_instructions: Option<PaymentInstructions>,
    /// The transaction that claimed the session, while `processing`.
    pub processing_tx_hash: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub order_id: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub webhook_url: Option<String>,
    /// Payments credited to the session (on single-session answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payments: Option<Vec<PaymentView>>,
}

/// How a customer pays the session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PaymentInstructions {
    /// The receiving G account; pay it with the memo below.
    pub destination: String,
    /// The same account muxed with the session's reference: pay it with no memo.
    pub muxed_destination: String,
    pub memo: MemoInstruction,
    /// SEP-7 `web+stellar:pay` URI for what is still owed (never zero or less).
    pub pay_uri: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemoInstruction {
    /// Always `id`.
    #[serde(rename = "type")]
    #[schema(example = "id")]
    pub kind: String,
    /// The reference, as a decimal string.
    pub value: String,
}

/// A transaction's credit to a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PaymentView {
    pub tx_hash: String,
    #[schema(example = "12.5000000")]
    pub amount: String,
    pub asset: String,
    pub ledger: i32,
    pub created_at: DateTime<Utc>,
}

/// A page of sessions, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionPage {
    pub data: Vec<SessionView>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_after: Option<Uuid>,
}

/// The answer to a client-reported transaction: the session (with its payments), plus what
/// happened to the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportTxView {
    /// `settled` (confirmed and credited: `paid`, or `pending` when short), `processing`
    /// (not confirmed within the wait; finishing in the background) or `released` (the
    /// transaction is not on the ledger; the session is `pending` again).
    #[schema(example = "settled")]
    pub outcome: String,
    #[serde(flatten)]
    pub session: SessionView,
}

impl SessionView {
    pub fn new(session: &Session, passphrase: &str) -> SessionView {
        let amount = session.amount.to_string();
        let owed = session.amount_owed();
        SessionView {
            id: session.id,
            status: session.status.as_str().to_owned(),
            amount_received: session.amount_received.to_string(),
            overpaid: session.is_overpaid(),
            asset: session.asset.to_string(),
            account: session.account.to_string(),
            reference: session.reference.to_string(),
            payable: owed.is_some(),
            payment_instructions: owed
                .map(|owed| PaymentInstructions::new(session, owed, passphrase)),
            amount,
            processing_tx_hash: session.processing.map(|p| p.tx_hash.to_string()),
            expires_at: session.expires_at,
            created_at: session.created_at,
            updated_at: session.updated_at,
            order_id: session.order_id.clone(),
            metadata: session.metadata.clone(),
            webhook_url: session.webhook_url.clone(),
            payments: None,
        }
    }

    pub fn with_payments(mut self, payments: &[PaymentRow]) -> SessionView {
        self.payments = Some(payments.iter().map(PaymentView::from).collect());
        self
    }
}

impl PaymentInstructions {
    /// The instructions for paying `owed`: after a partial payment, re-scanning must not ask
    /// for the whole amount again.
    fn new(session: &Session, owed: PositiveAmount, passphrase: &str) -> PaymentInstructions {
        PaymentInstructions {
            destination: session.account.to_string(),
            muxed_destination: MuxedAccount::new(session.account, session.reference.0).to_string(),
            memo: MemoInstruction {
                kind: "id".to_owned(),
                value: session.reference.to_string(),
            },
            pay_uri: pay_uri(
                &session.account,
                owed,
                &session.asset,
                session.reference,
                passphrase,
            ),
        }
    }
}

impl From<&PaymentRow> for PaymentView {
    fn from(p: &PaymentRow) -> Self {
        PaymentView {
            tx_hash: p.tx_hash.clone(),
            // The column's CHECK keeps it positive; show the raw stroops if it ever is not.
            amount: orbitpay_core::Amount::from_stroops(p.amount)
                .map(|a| a.to_string())
                .unwrap_or_else(|_| format!("{} stroops", p.amount)),
            asset: p.asset.clone(),
            ledger: p.ledger,
            created_at: p.created_at,
        }
    }
}

impl ReportTxView {
    pub fn new(outcome: &ReportOutcome, session: SessionView) -> Self {
        ReportTxView {
            outcome: outcome.name().to_owned(),
            session,
        }
    }
}

/// A session with its story: the session (with its payments) and every event written for it,
/// in commit order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionTimelineView {
    #[serde(flatten)]
    pub session: SessionView,
    pub timeline: Vec<TimelineEntry>,
}

/// One event of a session's timeline, with the ledger and transaction behind it and where each
/// of its webhook deliveries stands. The full event is `GET /v1/events/{event_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    /// Position in the feed.
    pub id: i64,
    pub event_id: Uuid,
    #[serde(rename = "type")]
    #[schema(example = "session.partially_paid")]
    pub kind: String,
    pub created_at: DateTime<Utc>,
    /// The session's status as the event's transaction left it.
    #[schema(value_type = Option<SessionStatusSchema>)]
    pub status: Option<String>,
    /// Credited to the session so far, as the event's transaction left it.
    pub amount_received: Option<String>,
    /// The transaction the event is about; null for creation, cancellation and expiry.
    pub tx_hash: Option<String>,
    /// The ledger that transaction closed in; null while it is unconfirmed.
    pub ledger: Option<i32>,
    /// The money of an event about one operation: the credit, or the late payment.
    #[schema(example = "5.0000000")]
    pub amount: Option<String>,
    /// Why, for a release (`reason`) or a late payment (`already_paid`, ...).
    pub reason: Option<String>,
    /// One per endpoint, oldest first.
    pub deliveries: Vec<DeliveryStatusView>,
}

impl TimelineEntry {
    pub fn new(e: &TimelineEvent) -> TimelineEntry {
        let payload = &e.event.payload;
        let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_owned);
        let snapshot = payload.get("session");
        TimelineEntry {
            id: e.event.id,
            event_id: e.event.event_id,
            kind: e.event.event_type.clone(),
            created_at: e.event.created_at,
            status: text(snapshot.and_then(|s| s.get("status"))),
            amount_received: text(snapshot.and_then(|s| s.get("amount_received"))),
            tx_hash: e.tx_hash.clone(),
            ledger: e.ledger,
            amount: e.amount.clone(),
            reason: text(payload.get("reason")),
            deliveries: e.deliveries.iter().map(DeliveryStatusView::from).collect(),
        }
    }
}
