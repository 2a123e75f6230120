//! The refund resource's JSON: the create request and the view of a refund, with its unsigned
//! envelope and SEP-7 URI. Amounts are 7-decimal strings, as everywhere in the API.

use chrono::{DateTime, Utc};
use orbitpay_core::Amount;
use orbitpay_store::models::RefundRow;
use orbitpay_store::refunds::AWAITING_SIGNATURE;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `POST /v1/refunds` body: exactly one of `unmatched_id` and `session_id`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRefundRequest {
    /// An unmatched payment (`GET /v1/payments/unmatched`): refunds all of it by default.
    #[schema(minimum = 1)]
    #[serde(
        default,
        deserialize_with = "crate::admin::support::input::whole_number"
    )]
    pub unmatched_id: Option<i64>,
    /// A session: refunds its overpaid part by default.
    #[serde(default)]
    pub session_id: Option<Uuid>,
    /// Less than the default (a partial refund, or part of a paid session the merchant
    /// cancels), never more than is left to refund. Decimal string, as a session's amount.
    #[serde(default)]
    #[schema(schema_with = crate::admin::sessions::amount_schema)]
    pub amount: Option<Box<RawValue>>,
    /// Overrides the payer (G or M): an exchange customer's deposit address, say.
    #[serde(default)]
    #[schema(pattern = "^(G[A-Z2-7]{55}|M[A-Z2-7]{68})$")]
    pub destination: Option<String>,
    /// Overrides `MEMO_RETURN` of the paying transaction (an exchange needs its customer's
    /// deposit memo).
    #[serde(default)]
    pub memo: Option<MemoRequest>,
    /// `payment` (default), or `claimable_balance` for a destination that cannot receive the
    /// asset yet (no trustline, or no room under its limit).
    #[serde(default)]
    pub method: Option<RefundMethod>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundMethod {
    Payment,
    ClaimableBalance,
}

impl RefundMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundMethod::Payment => "payment",
            RefundMethod::ClaimableBalance => "claimable_balance",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemoType {
    None,
    Text,
    Id,
    Hash,
    Return,
}

/// A memo: `text` (at most 28 bytes of UTF-8), `id` (a u64 as a decimal string), `hash` or
/// `return` (64 hex characters), or `none` (no `value`). A value that does not fit its type is
/// 422 REFUND_INVALID_MEMO.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoRequest {
    #[serde(rename = "type")]
    pub kind: MemoType,
    #[serde(default)]
    #[schema(max_length = 64)]
    pub value: Option<String>,
}

/// A refund's memo as stored: `value` is the decimal id, the text (escaped as
/// `GET /v1/payments/unmatched` escapes payer text), or the hash's hex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemoView {
    #[serde(rename = "type")]
    pub kind: MemoType,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = RefundStatus)]
pub enum RefundStatusSchema {
    /// Prepared: the merchant is to sign `envelope_xdr` (or open `sep7_uri`).
    AwaitingSignature,
    /// The ledger shows the money returned (`tx_hash`, `closed_at`).
    Completed,
    Canceled,
}

/// A refund: money going back to its payer, as an unsigned transaction the merchant signs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefundView {
    pub id: Uuid,
    #[schema(value_type = RefundStatusSchema)]
    pub status: String,
    /// The unmatched payment refunded (or null).
    pub unmatched_id: Option<i64>,
    /// The session refunded (or null).
    pub session_id: Option<Uuid>,
    /// The merchant account that sends it (the envelope's source).
    pub account: String,
    #[schema(example = "2.5000000")]
    pub amount: String,
    pub asset: String,
    /// G or M address.
    pub destination: String,
    pub memo: MemoView,
    #[schema(value_type = RefundMethod)]
    pub method: String,
    /// The latest unsigned V1 envelope, base64 XDR: sign it with the merchant's key.
    pub envelope_xdr: String,
    /// The sequence number the envelope carries.
    pub sequence: String,
    /// The end of the envelope's time bounds: after it, prepare it again.
    pub valid_until: DateTime<Utc>,
    /// SEP-7 `web+stellar:tx` URI of the envelope, for any SEP-7 wallet; while
    /// `awaiting_signature` only.
    pub sep7_uri: Option<String>,
    /// The transaction that returned the money, once `completed`.
    pub tx_hash: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RefundView {
    pub fn new(row: &RefundRow, network_passphrase: &str) -> RefundView {
        let amount = Amount::from_stroops(row.amount)
            .map(|a| a.to_string())
            .unwrap_or_else(|_| format!("{} stroops", row.amount));
        let sep7_uri = (row.status == AWAITING_SIGNATURE).then(|| {
            orbitpay_core::refund::sep7_tx_uri(
                &row.envelope_xdr,
                network_passphrase,
                &format!("Refund of {amount} {} to {}", row.asset, row.destination),
            )
        });
        let kind = match row.memo_type.as_str() {
            "text" => MemoType::Text,
            "id" => MemoType::Id,
            "hash" => MemoType::Hash,
            "return" => MemoType::Return,
            _ => MemoType::None,
        };
        RefundView {
            id: row.id,
            status: row.status.clone(),
            unmatched_id: row.unmatched_id,
            session_id: row.session_id,
            account: row.account.clone(),
            amount,
            asset: row.asset.clone(),
            destination: row.destination.clone(),
            memo: MemoView {
                kind,
                value: row.memo_value.clone(),
            },
            method: row.method.clone(),
            envelope_xdr: row.envelope_xdr.clone(),
            sequence: row.sequence.to_string(),
            valid_until: row.valid_until,
            sep7_uri,
            tx_hash: row.tx_hash.clone(),
            closed_at: row.closed_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListRefundsParams {
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `next_after` of the previous page.
    pub after: Option<Uuid>,
}

/// A page of refunds, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefundPage {
    pub data: Vec<RefundView>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_after: Option<Uuid>,
}
