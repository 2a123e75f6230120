//! What the API answers: JSON shapes, built from the store's domain types. Amounts are
//! 7-decimal strings (never JSON numbers), references and muxed ids decimal strings (u64).

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use orbitpay_core::{AccountId, Asset, MuxedAccount, Reference};
use orbitpay_store::models::{OutboxEventRow, PaymentRow, Session, UnmatchedPaymentRow};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AccountStatus, ReportOutcome};
use crate::config::PUBLIC_PASSPHRASE;

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
    pub payment_instructions: PaymentInstructions,
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
    /// SEP-7 `web+stellar:pay` URI.
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

/// Money that reached a watched account but credited no session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnmatchedView {
    pub id: i64,
    pub op_id: i64,
    pub tx_hash: String,
    pub account: String,
    /// 7 decimals; contract amounts may exceed int64.
    pub amount: Option<String>,
    pub asset: Option<String>,
    pub from: Option<String>,
    pub memo_type: Option<String>,
    pub memo_value: Option<String>,
    /// The exact memo bytes, base64.
    pub memo_bytes: Option<String>,
    pub muxed_id: Option<String>,
    /// Why it matched no session: `no_reference`, `unknown_reference`, `wrong_asset`,
    /// `already_paid`, `session_expired`, `session_cancelled`, `ambiguous_reference`,
    /// `unsupported_operation`, or `amount_overflow` (crediting it would take the session's
    /// amount received past int64 stroops).
    #[schema(example = "unknown_reference")]
    pub reason: String,
    pub session_id: Option<Uuid>,
    pub ledger: Option<i32>,
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The operation as the ledger source sent it (Horizon's operation record), so money that
    /// could not be interpreted can still be refunded. At most 64 KiB of JSON; above that
    /// `{"omitted": "over 64 KiB", "bytes": n}` (the operation is at the source under `op_id`).
    /// Strings holding NUL are escaped as in `memo_value`. Absent on rows from before it was kept.
    #[schema(value_type = Option<Object>)]
    pub raw_operation: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnmatchedPage {
    pub data: Vec<UnmatchedView>,
    pub next_after: Option<i64>,
}

/// An outbox event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    /// Position in the feed; pass as `after`.
    pub id: i64,
    /// Stable id; webhook receivers deduplicate on it.
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

/// The daemon's status.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StatusView {
    pub version: String,
    pub accounts: Vec<AccountStatus>,
    /// Sessions per status.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub sessions: BTreeMap<String, i64>,
    /// `processing` sessions by where their claim came from (`stream`, `client_report`): client claims
    /// piling up mean a wallet reports hashes that do not land (recovery releases them).
    #[schema(value_type = BTreeMap<String, i64>)]
    pub claims: BTreeMap<String, i64>,
    pub outbox: OutboxView,
    /// The periodic jobs' last runs in this instance.
    pub jobs: Vec<super::JobRunView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OutboxView {
    /// Webhook deliveries still owed.
    pub undelivered: i64,
    /// Age of the oldest, in seconds.
    pub oldest_age_seconds: f64,
    /// Deliveries that ran out of attempts: `orbitpay webhooks list --status dead`.
    pub dead: i64,
}

/// `/healthz` and `/readyz` when all is well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthView {
    #[schema(example = "ok")]
    pub status: String,
}

/// Query characters SEP-7 values may carry unescaped: RFC 3986 unreserved.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The SEP-7 `web+stellar:pay` URI for paying `amount` of `asset` to `destination` with memo id
/// `reference`. The network passphrase is included only off the public network (SEP-7).
pub fn pay_uri(
    destination: &AccountId,
    amount: &str,
    asset: &Asset,
    reference: Reference,
    passphrase: &str,
) -> String {
    let mut params: Vec<(&str, String)> = vec![
        ("destination", destination.to_string()),
        ("amount", amount.to_owned()),
    ];
    if let Asset::Credit { code, issuer } = asset {
        params.push(("asset_code", code.as_str().to_owned()));
        params.push(("asset_issuer", issuer.to_string()));
    }
    params.push(("memo", reference.to_string()));
    params.push(("memo_type", "MEMO_ID".to_owned()));
    if passphrase != PUBLIC_PASSPHRASE {
        params.push(("network_passphrase", passphrase.to_owned()));
    }
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
        .collect();
    format!("web+stellar:pay?{}", query.join("&"))
}

impl SessionView {
    pub fn new(session: &Session, passphrase: &str) -> SessionView {
        let amount = session.amount.to_string();
        SessionView {
            id: session.id,
            status: session.status.as_str().to_owned(),
            amount_received: session.amount_received.to_string(),
            overpaid: session.is_overpaid(),
            asset: session.asset.to_string(),
            account: session.account.to_string(),
            reference: session.reference.to_string(),
            payment_instructions: PaymentInstructions {
                destination: session.account.to_string(),
                muxed_destination: MuxedAccount::new(session.account, session.reference.0)
                    .to_string(),
                memo: MemoInstruction {
                    kind: "id".to_owned(),
                    value: session.reference.to_string(),
                },
                // What is still owed: after a partial payment, re-scanning must not ask for the
                // whole amount again.
                pay_uri: pay_uri(
                    &session.account,
                    &session
                        .amount
                        .saturating_sub(session.amount_received)
                        .to_string(),
                    &session.asset,
                    session.reference,
                    passphrase,
                ),
            },
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

impl From<&UnmatchedPaymentRow> for UnmatchedView {
    fn from(u: &UnmatchedPaymentRow) -> Self {
        UnmatchedView {
            id: u.id,
            op_id: u.op_id,
            tx_hash: u.tx_hash.clone(),
            account: u.account.clone(),
            amount: u.amount.map(|a| {
                orbitpay_core::ContractAmount::from_stroops(a.0)
                    .map(|c| c.to_string())
                    .unwrap_or_else(|_| format!("{} stroops", a.0))
            }),
            asset: u.asset.clone(),
            from: u.from_address.clone(),
            memo_type: u.memo_type.clone(),
            memo_value: u.memo_value.clone(),
            memo_bytes: u
                .memo_bytes
                .as_ref()
                .map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
            muxed_id: u.muxed_id.map(|m| m.0.to_string()),
            reason: u.reason.as_str().to_owned(),
            session_id: u.session_id,
            ledger: u.ledger,
            detail: u.detail.clone(),
            created_at: u.created_at,
            raw_operation: u.raw_operation.clone(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TESTNET_PASSPHRASE;

    const G: &str = "GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN";

    #[test]
    fn pay_uri_is_sep7_and_percent_encoded() {
        let account: AccountId = G.parse().unwrap();
        let usdc: Asset = format!("USDC:{G}").parse().unwrap();
        let uri = pay_uri(
            &account,
            "12.5000000",
            &usdc,
            Reference(42),
            TESTNET_PASSPHRASE,
        );
        assert_eq!(
            uri,
            format!(
                "web+stellar:pay?destination={G}&amount=12.5000000&asset_code=USDC&asset_issuer={G}\
                 &memo=42&memo_type=MEMO_ID&network_passphrase=Test%20SDF%20Network%20%3B%20September%202015"
            )
        );
        let public = pay_uri(
            &account,
            "1.0000000",
            &Asset::Native,
            Reference(u64::MAX),
            PUBLIC_PASSPHRASE,
        );
        assert_eq!(
            public,
            format!(
                "web+stellar:pay?destination={G}&amount=1.0000000&memo=18446744073709551615&memo_type=MEMO_ID"
            )
        );
    }
}
