//! Horizon JSON → [`LedgerRecord`].
//!
//! The rule: conversion never fails the stream. A record whose paging token and transaction
//! hash can be read always becomes a `LedgerRecord`; anything else wrong with it (unknown
//! type, bad amount, bad muxed id, bad memo, missing field) becomes
//! `Operation::Unsupported`, which the matcher records and skips loudly. Only a record without
//! even those two facts is a [`RecordError`]: the follower reads it again, and if it stays
//! unreadable hands it to the sink, which stores it (raw bytes included) before passing it.

use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use orbitpay_core::{
    AccountId, Address, Amount, Asset, BalanceChange, ContractAmount, LedgerRecord, Memo,
    MuxedAccount, Operation, TransferKind, TxHash, text, toid,
};
use serde::Deserialize as _;
use serde_json::Value;

use crate::wire::{AssetBalanceChange, OperationRecord, TransactionRecord};

/// A record that could not be tied to an operation (no readable paging token or transaction
/// hash, or not JSON at all).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable record (paging token {paging_token:?}): {reason}")]
pub struct RecordError {
    /// The record's paging token if readable, else the SSE `id:` it arrived with.
    pub paging_token: Option<i64>,
    pub reason: String,
    /// The record as received, at most [`MAX_RAW_BYTES`]: what an operator or the
    /// reconciliation job needs to tell what it was.
    pub raw: Vec<u8>,
    /// `raw` was cut at [`MAX_RAW_BYTES`].
    pub raw_truncated: bool,
    /// How many reads in a row found this record unreadable: 1 from conversion, then set by
    /// the follower when it gives up re-reading and hands the record to the sink.
    pub reads: u32,
}

/// Raw bytes kept of an unreadable record: far more than any real record, and a bound on what
/// a hostile or broken response can make us store.
pub const MAX_RAW_BYTES: usize = 64 << 10;

const EXCERPT: usize = 200;

/// A quotable start of what the source sent, escaped: it may end up in a text column.
fn excerpt(s: &str) -> String {
    text::escape_bounded(s, EXCERPT)
}

impl RecordError {
    fn new(paging_token: Option<i64>, reason: String, raw: &str) -> Self {
        let raw = raw.as_bytes();
        RecordError {
            paging_token,
            reason,
            raw: raw[..raw.len().min(MAX_RAW_BYTES)].to_vec(),
            raw_truncated: raw.len() > MAX_RAW_BYTES,
            reads: 1,
        }
    }

    /// The start of the raw record, for a log line.
    pub fn excerpt(&self) -> String {
        excerpt(&String::from_utf8_lossy(&self.raw))
    }
}

/// A paging token: a positive decimal i64, digits only.
pub fn parse_token(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok().filter(|t| *t > 0)
}

/// A u64 id (muxed id, memo id): decimal digits only. `u64::from_str` would accept `+1`.
pub fn parse_u64(s: &str) -> Result<u64, String> {
    s.parse::<orbitpay_core::Reference>()
        .map(|r| r.0)
        .map_err(|e| e.to_string())
}

/// Converts one record's raw JSON (an SSE `data:` line). `sse_id` is the event's `id:`.
pub fn record_from_json(json: &str, sse_id: Option<i64>) -> Result<LedgerRecord, RecordError> {
    match serde_json::from_str::<Value>(json) {
        Ok(v) => record_from_value(v, sse_id),
        Err(e) => Err(RecordError::new(sse_id, format!("not JSON: {e}"), json)),
    }
}

/// Converts one record of a payments page (or stream).
pub fn record_from_value(value: Value, sse_id: Option<i64>) -> Result<LedgerRecord, RecordError> {
    // Kept on the record as received: an unmatched row stores it for a refund.
    let raw = Arc::new(value);
    let value: &Value = &raw;
    let fail =
        |reason: String, token: Option<i64>| RecordError::new(token, reason, &value.to_string());
    if !value.is_object() {
        return Err(fail("record is not a JSON object".into(), sse_id));
    }
    let token_field = value
        .get("paging_token")
        .and_then(Value::as_str)
        .and_then(parse_token);
    // The SSE id is only reported, never used as the op id: eventsource parsers carry the
    // previous event's id forward when an event has none, so it may be stale.
    let Some(op_id) = token_field else {
        return Err(fail("no readable paging_token".into(), sse_id));
    };
    let Some(tx_hash) = value
        .get("transaction_hash")
        .and_then(Value::as_str)
        .and_then(|s| TxHash::from_str(s).ok())
    else {
        return Err(fail("no readable transaction_hash".into(), Some(op_id)));
    };
    let op_type = value
        .get("type")
        .and_then(Value::as_str)
        .map_or_else(|| "unknown".to_owned(), |t| text::escape_bounded(t, 64));
    // Unknown success is reported as successful so the matcher records it as unsupported
    // instead of silently ignoring it as a failed transaction.
    let success_hint = value
        .get("transaction_successful")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let closed_at = value
        .get("created_at")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp());
    let unsupported = |reason: String, memo: Memo| LedgerRecord {
        op_id,
        tx_hash,
        inner_tx_hash: None,
        ledger: toid::ledger(op_id),
        closed_at,
        successful: success_hint,
        memo,
        operation: Operation::Unsupported {
            op_type: op_type.clone(),
            reason,
        },
        raw: Some(raw.clone()),
    };

    let rec = match OperationRecord::deserialize(value) {
        Ok(r) => r,
        Err(e) => {
            return Ok(unsupported(
                format!("unexpected record shape: {e}"),
                Memo::None,
            ));
        }
    };
    if rec.id != rec.paging_token {
        return Ok(unsupported(
            format!("id {} differs from paging_token", excerpt(&rec.id)),
            Memo::None,
        ));
    }
    if let Some(sse) = sse_id.filter(|s| *s != op_id) {
        tracing::warn!(op_id, sse_id = sse, tx_hash = %tx_hash, "SSE id differs from the record's paging token; using the record's");
    }

    let Some(tx) = &rec.transaction else {
        return Ok(unsupported(
            "no embedded transaction (request needs join=transactions): memo unknown".into(),
            Memo::None,
        ));
    };
    let memo = match memo_of(tx) {
        Ok(m) => m,
        Err(e) => return Ok(unsupported(format!("memo: {e}"), Memo::None)),
    };
    if let Err(e) = check_transaction(&rec, tx, op_id, &tx_hash) {
        return Ok(unsupported(e, memo));
    }
    match operation_of(&rec) {
        Ok(operation) => Ok(LedgerRecord {
            op_id,
            tx_hash,
            // A wallet may report a fee-bump under the hash it signed: the inner one.
            inner_tx_hash: tx.fee_bump_hashes().1.filter(|h| *h != tx_hash),
            ledger: tx.ledger,
            closed_at,
            successful: tx.successful,
            memo,
            operation,
            raw: Some(raw.clone()),
        }),
        Err(e) => Ok(unsupported(e, memo)),
    }
}

/// The embedded transaction must be the operation's own.
fn check_transaction(
    rec: &OperationRecord,
    tx: &TransactionRecord,
    op_id: i64,
    tx_hash: &TxHash,
) -> Result<(), String> {
    if TxHash::from_str(&tx.hash).ok().as_ref() != Some(tx_hash) {
        return Err("embedded transaction hash differs from transaction_hash".into());
    }
    if tx.ledger != toid::ledger(op_id) {
        return Err(format!(
            "transaction ledger {} differs from the paging token's ledger {}",
            tx.ledger,
            toid::ledger(op_id)
        ));
    }
    if let Some(s) = rec.transaction_successful
        && s != tx.successful
    {
        return Err("transaction_successful differs from the transaction's successful".into());
    }
    Ok(())
}

/// The transaction's memo. Text comes from `memo_bytes` (exact bytes), never from `memo`.
pub fn memo_of(tx: &TransactionRecord) -> Result<Memo, String> {
    let field = |name: &str, v: &Option<String>| {
        v.clone()
            .ok_or_else(|| format!("memo_type {} without {name}", tx.memo_type))
    };
    match tx.memo_type.as_str() {
        "none" => Ok(Memo::None),
        "text" => {
            let b64 = field("memo_bytes", &tx.memo_bytes)?;
            let bytes = STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| format!("memo_bytes is not base64: {e}"))?;
            Memo::text(bytes).map_err(|e| e.to_string())
        }
        "id" => parse_u64(&field("memo", &tx.memo)?).map(Memo::Id),
        "hash" => hash32(&field("memo", &tx.memo)?).map(Memo::Hash),
        "return" => hash32(&field("memo", &tx.memo)?).map(Memo::Return),
        other => Err(format!("unknown memo_type {:?}", excerpt(other))),
    }
}

fn hash32(b64: &str) -> Result<[u8; 32], String> {
    let bytes = STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| format!("memo is not base64: {e}"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("memo hash has {} bytes, not 32", bytes.len()))
}

fn need<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, String> {
    v.as_deref().ok_or_else(|| format!("missing {name}"))
}

fn account(s: &str, name: &str) -> Result<AccountId, String> {
    s.parse()
        .map_err(|_| format!("{name} {:?} is not a G account", excerpt(s)))
}

fn amount(s: &str, name: &str) -> Result<Amount, String> {
    Amount::from_str(s).map_err(|e| format!("{name}: {e}"))
}

/// A party named by Horizon's `X`, `X_muxed`, `X_muxed_id` triple: `X` is always the G
/// account; the id (a decimal string) makes it muxed, cross-checked against the M-address.
fn party(
    g: Option<&String>,
    muxed: Option<&String>,
    muxed_id: Option<&String>,
    name: &str,
) -> Result<Address, String> {
    let g = account(
        g.map(String::as_str)
            .ok_or_else(|| format!("missing {name}"))?,
        name,
    )?;
    let from_m = muxed
        .map(|m| MuxedAccount::from_str(m).map_err(|_| format!("{name}_muxed is not an M address")))
        .transpose()?;
    let id = muxed_id
        .map(|s| parse_u64(s).map_err(|e| format!("{name}_muxed_id: {e}")))
        .transpose()?;
    let resolved = match (id, from_m) {
        (None, None) => return Ok(Address::Account(g)),
        (Some(id), m) => {
            let mux = MuxedAccount::new(g, id);
            if m.is_some_and(|m| m != mux) {
                return Err(format!(
                    "{name}_muxed disagrees with {name}/{name}_muxed_id"
                ));
            }
            mux
        }
        (None, Some(m)) => m,
    };
    if resolved.account != g {
        return Err(format!("{name}_muxed is not an address of {name}"));
    }
    Ok(Address::Muxed(resolved))
}

fn asset(
    asset_type: &Option<String>,
    code: &Option<String>,
    issuer: &Option<String>,
) -> Result<Asset, String> {
    Asset::from_horizon(
        need(asset_type, "asset_type")?,
        code.as_deref(),
        issuer.as_deref(),
    )
    .map_err(|e| e.to_string())
}

/// The domain operation of a record, independent of its transaction.
pub fn operation_of(rec: &OperationRecord) -> Result<Operation, String> {
    let kind = match rec.op_type.as_str() {
        "payment" => Some(TransferKind::Payment),
        "path_payment_strict_receive" => Some(TransferKind::PathPaymentStrictReceive),
        "path_payment_strict_send" => Some(TransferKind::PathPaymentStrictSend),
        _ => None,
    };
    if let Some(kind) = kind {
        return Ok(Operation::Transfer {
            kind,
            from: party(
                rec.from.as_ref(),
                rec.from_muxed.as_ref(),
                rec.from_muxed_id.as_ref(),
                "from",
            )?,
            to: party(
                rec.to.as_ref(),
                rec.to_muxed.as_ref(),
                rec.to_muxed_id.as_ref(),
                "to",
            )?,
            asset: asset(&rec.asset_type, &rec.asset_code, &rec.asset_issuer)?,
            // The destination amount: `source_amount` is what the sender spent.
            amount: amount(need(&rec.amount, "amount")?, "amount")?,
        });
    }
    match rec.op_type.as_str() {
        "create_account" => Ok(Operation::CreateAccount {
            funder: account(need(&rec.funder, "funder")?, "funder")?,
            account: account(need(&rec.account, "account")?, "account")?,
            starting_balance: amount(
                need(&rec.starting_balance, "starting_balance")?,
                "starting_balance",
            )?,
        }),
        "account_merge" => Ok(Operation::AccountMerge {
            account: party(
                rec.account.as_ref(),
                rec.account_muxed.as_ref(),
                rec.account_muxed_id.as_ref(),
                "account",
            )?,
            into: party(
                rec.into.as_ref(),
                rec.into_muxed.as_ref(),
                rec.into_muxed_id.as_ref(),
                "into",
            )?,
            // Filled from the `account_credited` effect by the source.
            amount: None,
        }),
        "invoke_host_function" => {
            let changes = rec
                .asset_balance_changes
                .as_deref()
                .unwrap_or_default()
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    balance_change(c).map_err(|e| format!("asset_balance_changes[{i}]: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Operation::ContractTransfers { changes })
        }
        "create_claimable_balance" => Ok(Operation::CreateClaimableBalance {
            source: party(
                rec.source_account.as_ref(),
                rec.source_account_muxed.as_ref(),
                rec.source_account_muxed_id.as_ref(),
                "source_account",
            )?,
            asset: Asset::from_str(need(&rec.asset, "asset")?)
                .map_err(|e| format!("asset: {e}"))?,
            amount: amount(need(&rec.amount, "amount")?, "amount")?,
            claimants: rec
                .claimants
                .as_deref()
                .ok_or("missing claimants")?
                .iter()
                .map(|c| account(&c.destination, "claimant"))
                .collect::<Result<_, _>>()?,
        }),
        other => Err(format!(
            "operation type {:?} is not handled",
            excerpt(other)
        )),
    }
}

fn balance_change(c: &AssetBalanceChange) -> Result<BalanceChange, String> {
    let addr = |v: &Option<String>, name: &str| {
        v.as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| {
                Address::from_str(s)
                    .map_err(|_| format!("{name} {:?} is not an address", excerpt(s)))
            })
            .transpose()
    };
    let destination_muxed_id = c
        .destination_muxed_id
        .as_deref()
        .map(|s| parse_u64(s).map_err(|e| format!("destination_muxed_id: {e}")))
        .transpose()?;
    let mut to = addr(&c.to, "to")?;
    // Give the receiver its muxed form too, so `to` and `destination_muxed_id` can never tell
    // the matcher different things.
    if let Some(id) = destination_muxed_id {
        to = match to {
            Some(Address::Account(g)) => Some(Address::Muxed(MuxedAccount::new(g, id))),
            Some(Address::Muxed(m)) if m.id != id => {
                return Err("to's muxed id disagrees with destination_muxed_id".into());
            }
            other => other,
        };
    }
    Ok(BalanceChange {
        change_type: text::escape_bounded(&c.change_type, 32),
        from: addr(&c.from, "from")?,
        to,
        asset: Asset::from_horizon(
            &c.asset_type,
            c.asset_code.as_deref(),
            c.asset_issuer.as_deref(),
        )
        .map_err(|e| e.to_string())?,
        amount: ContractAmount::from_str(&c.amount).map_err(|e| format!("amount: {e}"))?,
        destination_muxed_id,
    })
}

#[cfg(test)]
mod tests;
