//! What a refund is built from: its source's defaults (who paid, what is left, the paying
//! transaction), the ledger's checks on the destination and the merchant account, and the
//! unsigned envelope. Reads only; the store's `refunds::create` decides under the lock.

use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use orbitpay_core::{AccountId, Address, Amount, Asset, Memo, RefundOperation, RefundTx, TxHash};
use orbitpay_horizon::{AccountInfo, AccountLookup, LedgerSource, TxLookup};
use orbitpay_store::AsyncPgConnection;
use orbitpay_store::models::RefundRow;
use orbitpay_store::refunds::{self, RefundSource};

use super::json::{MemoRequest, MemoType, RefundMethod};
use crate::admin::state::AdminState;
use crate::admin::support::error::{ApiError, code};

/// Bound on one account read: a request must answer.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

fn ledger_unavailable(why: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        code::LEDGER_UNAVAILABLE,
        format!("a refund needs Horizon's account data: {why}"),
    )
}

/// What a source gives a refund by default.
#[derive(Debug, Clone)]
pub(super) struct Origin {
    pub account: AccountId,
    pub asset: Asset,
    /// The payer as the ledger named it (G, M or C); `None` for payments recorded before
    /// payers were kept.
    pub payer: Option<String>,
    /// The paying transaction, for `MEMO_RETURN`.
    pub tx_hash: TxHash,
    /// What can still be refunded.
    pub left: i64,
    /// The default amount: all that is left of an unmatched payment, a session's overpaid part.
    pub default_amount: i64,
}

/// Reads a source's defaults. A session's payer is the payer of its latest payment: the one
/// that paid it in full, and so the one that overpaid it (every later transaction to a paid
/// session is an unmatched `already_paid` payment, refundable on its own).
pub(super) async fn origin(
    conn: &mut AsyncPgConnection,
    source: RefundSource,
) -> Result<Origin, ApiError> {
    let not_found = || match source {
        RefundSource::Unmatched(id) => ApiError::not_found(format!("unmatched payment {id}")),
        RefundSource::Session(id) => ApiError::session_not_found(id),
    };
    let Some(refundable) = refunds::refundable(conn, source).await? else {
        return Err(not_found());
    };
    let (payer, tx_hash) = match source {
        RefundSource::Unmatched(id) => {
            let row = orbitpay_store::unmatched::find(conn, id)
                .await?
                .ok_or_else(not_found)?;
            (row.from_address, row.tx_hash)
        }
        RefundSource::Session(id) => {
            let payments = orbitpay_store::payments::for_session(conn, id).await?;
            let Some(last) = payments.last() else {
                return Err(unprocessable(
                    code::REFUND_NOTHING_TO_REFUND,
                    format!("session {id} has received no payment"),
                ));
            };
            (last.from_address.clone(), last.tx_hash.clone())
        }
    };
    let nothing = |why: &str| unprocessable(code::REFUND_NOTHING_TO_REFUND, why.to_owned());
    let asset: Asset = refundable
        .asset
        .as_deref()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| nothing("the payment's asset is unknown"))?;
    if refundable.received.is_none() {
        return Err(nothing(
            "the payment's amount is unknown or past int64 stroops",
        ));
    }
    let account = refundable
        .account
        .parse()
        .map_err(|e| ApiError::internal(format!("stored account: {e}")))?;
    let tx_hash = tx_hash
        .parse()
        .map_err(|e| ApiError::internal(format!("stored tx_hash: {e}")))?;
    let default_amount = match source {
        RefundSource::Unmatched(_) => refundable.left(),
        RefundSource::Session(_) => refundable.overpaid_left(),
    };
    Ok(Origin {
        account,
        asset,
        payer,
        tx_hash,
        left: refundable.left(),
        default_amount,
    })
}

/// The refund's destination: the override, else the payer. A contract payer is not
/// refundable yet.
pub(super) fn destination(
    requested: Option<&str>,
    payer: Option<&str>,
) -> Result<Address, ApiError> {
    if let Some(text) = requested {
        return match text.parse::<Address>() {
            Ok(a @ (Address::Account(_) | Address::Muxed(_))) => Ok(a),
            _ => Err(unprocessable(
                code::REFUND_INVALID_DESTINATION,
                format!(
                    "destination {:?} is not a valid G or M address",
                    text.chars().take(80).collect::<String>()
                ),
            )),
        };
    }
    let Some(payer) = payer else {
        return Err(unprocessable(
            code::REFUND_PAYER_UNKNOWN,
            "the payer of this payment was not recorded: give a destination",
        ));
    };
    match payer.parse::<Address>() {
        Ok(Address::Contract(c)) => Err(unprocessable(
            code::REFUND_UNSUPPORTED_SOURCE,
            format!("the payer is a contract ({c}): refunds to contracts are not supported yet"),
        )),
        Ok(a) => Ok(a),
        Err(e) => Err(ApiError::internal(format!("stored payer: {e}"))),
    }
}

/// A memo override, checked against its type.
pub(super) fn memo(m: &MemoRequest) -> Result<Memo, ApiError> {
    let invalid = |why: String| unprocessable(code::REFUND_INVALID_MEMO, why);
    let value = m.value.as_deref();
    let hash = |v: Option<&str>| -> Result<[u8; 32], ApiError> {
        let v = v.ok_or_else(|| invalid("a hash or return memo needs a value".into()))?;
        let bytes = hex::decode(v).map_err(|_| invalid("the memo is not hex".into()))?;
        bytes
            .try_into()
            .map_err(|_| invalid("the memo must be 32 bytes (64 hex characters)".into()))
    };
    match m.kind {
        MemoType::None if value.is_none() => Ok(Memo::None),
        MemoType::None => Err(invalid("a `none` memo takes no value".into())),
        MemoType::Text => {
            let v = value.ok_or_else(|| invalid("a text memo needs a value".into()))?;
            Memo::text(v.as_bytes().to_vec()).map_err(|e| invalid(e.to_string()))
        }
        MemoType::Id => value
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
            .map(Memo::Id)
            .ok_or_else(|| invalid("an id memo is a u64 as a decimal string".into())),
        MemoType::Hash => hash(value).map(Memo::Hash),
        MemoType::Return => hash(value).map(Memo::Return),
    }
}

/// A memo as the `refunds` columns hold it (as `unmatched_payments` does): type, value
/// (decimal id, escaped text, hex) and the exact bytes.
pub(super) fn memo_columns(m: &Memo) -> (String, Option<String>, Option<Vec<u8>>) {
    let (value, bytes) = match m {
        Memo::None => (None, None),
        Memo::Id(id) => (Some(id.to_string()), None),
        Memo::Text(t) => (Some(t.escaped()), Some(t.as_bytes().to_vec())),
        Memo::Hash(h) | Memo::Return(h) => (Some(hex::encode(h)), Some(h.to_vec())),
    };
    (m.type_name().to_owned(), value, bytes)
}

/// The memo of a stored refund, from its columns.
fn memo_of(row: &RefundRow) -> Result<Memo, ApiError> {
    let corrupt = || ApiError::internal(format!("refund {}: stored memo", row.id));
    let hash = || -> Result<[u8; 32], ApiError> {
        row.memo_bytes
            .clone()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(corrupt)
    };
    match row.memo_type.as_str() {
        "none" => Ok(Memo::None),
        "id" => row
            .memo_value
            .as_deref()
            .and_then(|v| v.parse().ok())
            .map(Memo::Id)
            .ok_or_else(corrupt),
        "text" => Memo::text(row.memo_bytes.clone().ok_or_else(corrupt)?).map_err(|_| corrupt()),
        "hash" => hash().map(Memo::Hash),
        "return" => hash().map(Memo::Return),
        _ => Err(corrupt()),
    }
}

async fn read_account(source: &dyn LedgerSource, account: &AccountId) -> AccountLookup {
    tokio::time::timeout(LOOKUP_TIMEOUT, source.account(account))
        .await
        .unwrap_or_else(|_| {
            AccountLookup::Unavailable(format!("no answer within {}s", LOOKUP_TIMEOUT.as_secs()))
        })
}

fn ledger(state: &AdminState) -> Result<&dyn LedgerSource, ApiError> {
    state
        .source
        .as_deref()
        .ok_or_else(|| ledger_unavailable("this daemon has no ledger source"))
}

/// The merchant account as the ledger holds it now (its sequence number).
pub(super) async fn merchant(
    state: &AdminState,
    account: &AccountId,
) -> Result<AccountInfo, ApiError> {
    match read_account(ledger(state)?, account).await {
        AccountLookup::Found(info) => Ok(info),
        AccountLookup::NotFound => Err(unprocessable(
            code::REFUND_SOURCE_ACCOUNT_MISSING,
            format!("the merchant account {account} is not on the ledger"),
        )),
        AccountLookup::Unavailable(why) => Err(ledger_unavailable(why)),
    }
}

/// Checks on the ledger that `destination` can take the refund: it exists and, for a
/// payment of an issued asset, holds an authorized trustline with room for the amount. A
/// claimable balance needs no trustline: the payer claims it once it has one.
pub(super) async fn check_destination(
    state: &AdminState,
    destination: &Address,
    asset: &Asset,
    amount: Amount,
    method: RefundMethod,
) -> Result<(), ApiError> {
    let account = destination
        .account()
        .ok_or_else(|| ApiError::internal("a contract destination passed the checks"))?;
    let info = match read_account(ledger(state)?, &account).await {
        AccountLookup::Found(info) => info,
        AccountLookup::NotFound => {
            return Err(unprocessable(
                code::REFUND_DESTINATION_MISSING,
                format!("the destination account {account} does not exist on the ledger"),
            ));
        }
        AccountLookup::Unavailable(why) => return Err(ledger_unavailable(why)),
    };
    if method == RefundMethod::Payment && !matches!(asset, Asset::Native) {
        let room = info.room_for(asset);
        if room.is_none_or(|r| r < amount) {
            return Err(unprocessable(
                code::REFUND_DESTINATION_CANNOT_RECEIVE,
                format!(
                    "{account} {} {asset}: use \"method\": \"claimable_balance\"",
                    match room {
                        None => "has no authorized trustline for".to_owned(),
                        Some(r) => format!("has room for only {r}"),
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// Everything an envelope is built from, as a refund row holds it.
pub(super) struct Terms {
    pub account: AccountId,
    pub destination: Address,
    pub asset: Asset,
    pub amount: Amount,
    pub memo: Memo,
    pub method: RefundMethod,
}

impl Terms {
    /// The terms of a stored refund.
    pub fn of(row: &RefundRow) -> Result<Terms, ApiError> {
        let corrupt = |what: &str| ApiError::internal(format!("refund {}: stored {what}", row.id));
        Ok(Terms {
            account: row.account.parse().map_err(|_| corrupt("account"))?,
            destination: row
                .destination
                .parse()
                .map_err(|_| corrupt("destination"))?,
            asset: row.asset.parse().map_err(|_| corrupt("asset"))?,
            amount: Amount::from_stroops(row.amount).map_err(|_| corrupt("amount"))?,
            memo: memo_of(row)?,
            method: match row.method.as_str() {
                "claimable_balance" => RefundMethod::ClaimableBalance,
                _ => RefundMethod::Payment,
            },
        })
    }

    /// The unsigned envelope on the merchant's `sequence` (the account's current one),
    /// valid until `valid_until`: base64 XDR and the sequence it carries.
    pub fn envelope(
        &self,
        state: &AdminState,
        sequence: i64,
        valid_until: DateTime<Utc>,
    ) -> Result<(String, i64), ApiError> {
        let operation = match self.method {
            RefundMethod::Payment => RefundOperation::Payment {
                destination: self.destination,
            },
            RefundMethod::ClaimableBalance => RefundOperation::ClaimableBalance {
                claimant: self
                    .destination
                    .account()
                    .ok_or_else(|| ApiError::internal("a contract claimant"))?,
            },
        };
        let next = sequence
            .checked_add(1)
            .ok_or_else(|| ApiError::internal("the merchant's sequence number is at its end"))?;
        let tx = RefundTx {
            source: self.account,
            sequence: next,
            fee: state.refunds.max_fee,
            valid_until: u64::try_from(valid_until.timestamp()).unwrap_or(0),
            memo: self.memo.clone(),
            asset: self.asset.clone(),
            amount: self.amount,
            operation,
        };
        let xdr = tx.to_xdr_base64().map_err(ApiError::internal)?;
        Ok((xdr, next))
    }
}

/// When an envelope prepared at `now` stops being valid.
pub(super) fn valid_until(
    state: &AdminState,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ApiError> {
    let valid_for =
        chrono::Duration::from_std(state.refunds.valid_for).map_err(ApiError::internal)?;
    Ok(now + valid_for)
}

/// Refuses to replace an envelope that is on the ledger: its transaction, looked up by hash,
/// landed (a failed one did not pay, so a fresh envelope is right then).
pub(super) async fn ensure_not_landed(state: &AdminState, row: &RefundRow) -> Result<(), ApiError> {
    let hash = orbitpay_core::envelope_hash(&row.envelope_xdr, &state.network_passphrase)
        .map_err(ApiError::internal)?;
    let lookup = tokio::time::timeout(LOOKUP_TIMEOUT, ledger(state)?.lookup_transaction(&hash))
        .await
        .unwrap_or_else(|_| {
            TxLookup::Unavailable(format!("no answer within {}s", LOOKUP_TIMEOUT.as_secs()))
        });
    match lookup {
        TxLookup::Confirmed { ledger, .. } => Err(ApiError::new(
            StatusCode::CONFLICT,
            code::REFUND_ENVELOPE_LANDED,
            format!(
                "refund {}'s envelope landed as {hash} in ledger {ledger}: the ledger completes \
                 the refund; no second envelope is made",
                row.id
            ),
        )),
        TxLookup::Failed { .. } | TxLookup::NotFound => Ok(()),
        TxLookup::Unavailable(why) => Err(ledger_unavailable(why)),
    }
}
