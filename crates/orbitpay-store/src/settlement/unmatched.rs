//! Money that credits no session: the unmatched row a record leaves (its details, the raw
//! operation within bounds) and its event, queued in the transaction's work.

use orbitpay_core::matching::{ContractCredit, Credit};
use orbitpay_core::{AccountId, LedgerRecord, Memo, UnmatchedReason, text};
use serde_json::json;
use uuid::Uuid;

use super::types::Applied;
use super::work::Work;
use super::writes::ledger_i32;
use crate::StoreError;
use crate::events;
use crate::models::NewUnmatchedPayment;
use crate::numeric::{I128Numeric, U64Numeric};
use crate::outbox::EventType;

/// Characters of an unmatched row's `detail`: enough to diagnose, not a stranger's essay.
const MAX_DETAIL: usize = 1000;

pub(super) struct Unmatched<'a> {
    pub(super) reason: UnmatchedReason,
    pub(super) session_id: Option<Uuid>,
    pub(super) detail: Option<&'a str>,
}

/// What an unmatched row knows of the money.
pub(super) enum Money<'a> {
    Credit(&'a Credit),
    /// A contract transfer past i64 stroops: the amount is kept as the i128 it is.
    Contract(&'a ContractCredit),
    Unknown,
}

/// Serialized bytes of a record's JSON kept on its unmatched row, as for unreadable records:
/// far more than any real operation.
pub const MAX_RAW_OPERATION: usize = 64 << 10;

/// The record as the source sent it, for `raw_operation`. Above [`MAX_RAW_OPERATION`] only a
/// marker is kept (`{"omitted": "over 64 KiB", "bytes": n}`): the operation is still at the
/// source under its op id. jsonb refuses NUL (`\u0000`), which a payer can put in a memo, so
/// a string holding one is stored escaped like `memo_value` (`core::text::escape`); the exact
/// memo bytes are in `memo_bytes`.
pub(super) fn raw_operation(raw: &serde_json::Value) -> serde_json::Value {
    let bytes = serde_json::to_vec(raw).map_or(usize::MAX, |v| v.len());
    if bytes > MAX_RAW_OPERATION {
        return json!({ "omitted": "over 64 KiB", "bytes": bytes });
    }
    without_nul(raw)
}

fn without_nul(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let clean = |s: &str| {
        if s.contains('\0') {
            text::escape(s.as_bytes())
        } else {
            s.to_owned()
        }
    };
    match v {
        Value::String(s) => Value::String(clean(s)),
        Value::Array(a) => Value::Array(a.iter().map(without_nul).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (clean(k), without_nul(v))).collect())
        }
        other => other.clone(),
    }
}

/// A memo's `memo_value` and `memo_bytes` columns. A payer chose these bytes: they are kept
/// exactly in `bytea`, and only an escaped rendering reaches a text column (PostgreSQL's text
/// refuses NUL and invalid UTF-8).
pub(super) fn memo_columns(memo: &Memo) -> (Option<String>, Option<Vec<u8>>) {
    match memo {
        Memo::None => (None, None),
        Memo::Id(id) => (Some(id.to_string()), None),
        Memo::Text(t) => (Some(t.escaped()), Some(t.as_bytes().to_vec())),
        Memo::Hash(h) | Memo::Return(h) => (Some(hex::encode(h)), Some(h.to_vec())),
    }
}

/// Queues unmatched money (and its event) in `work`; the row is inserted at flush, where a
/// row another transaction inserted first turns the item into [`Applied::AlreadyHandled`].
pub(super) fn record_unmatched(
    account: &AccountId,
    record: &LedgerRecord,
    money: Money<'_>,
    u: Unmatched<'_>,
    work: &mut Work,
) -> Result<Applied, StoreError> {
    let credit = match money {
        Money::Credit(c) => Some(c),
        _ => None,
    };
    let contract = match money {
        Money::Contract(c) => Some(c),
        _ => None,
    };
    let amount = credit
        .map(|c| i128::from(c.amount.stroops()))
        .or(contract.map(|c| c.amount.stroops()));
    let amount_paid = credit
        .map(|c| c.amount.to_string())
        .or(contract.map(|c| c.amount.to_string()));
    let asset = credit
        .map(|c| &c.asset)
        .or(contract.map(|c| &c.asset))
        .map(|a| a.to_string());
    let from = credit.map_or(contract.and_then(|c| c.from), |c| c.from);
    let muxed_id = credit.map_or(contract.and_then(|c| c.muxed_id), |c| c.muxed_id);
    let (memo_value, memo_bytes) = memo_columns(&record.memo);
    let row = NewUnmatchedPayment {
        op_id: record.op_id,
        tx_hash: record.tx_hash.to_string(),
        account: account.to_string(),
        amount: amount.map(I128Numeric),
        asset: asset.clone(),
        from_address: from.map(|a| a.to_string()),
        memo_type: Some(record.memo.type_name().to_owned()),
        memo_value,
        memo_bytes,
        muxed_id: muxed_id.map(U64Numeric),
        reason: u.reason,
        session_id: u.session_id,
        ledger: Some(ledger_i32(record.ledger)?),
        // Details quote what the source sent (an operation type, a bad field).
        detail: u.detail.map(|d| text::escape_bounded(d, MAX_DETAIL)),
        raw_operation: record.raw.as_deref().map(raw_operation),
    };
    let event = if u.reason.is_late_payment() {
        EventType::SessionLatePayment
    } else {
        EventType::PaymentUnmatched
    };
    let data = events::UnmatchedPayment {
        op_id: record.op_id.to_string(),
        tx_hash: record.tx_hash.to_string(),
        account: account.to_string(),
        amount: amount_paid,
        asset,
        reason: u.reason.as_str().to_owned(),
        session_id: u.session_id,
        ledger: record.ledger,
    };
    work.unmatched(row, event, data);
    Ok(Applied::Unmatched {
        reason: u.reason,
        session_id: u.session_id,
    })
}
