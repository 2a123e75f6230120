//! The statements that write a session, an unmatched payment, and the helpers they share.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use orbitpay_core::matching::Credit;
use orbitpay_core::{
    AccountId, Amount, LedgerRecord, Memo, SessionStatus, TxHash, UnmatchedReason, text,
};
use serde_json::json;
use uuid::Uuid;

use super::Applied;
use super::work::Work;
use crate::StoreError;
use crate::models::{ClaimSource, NewUnmatchedPayment, PgSessionStatus, Session, SessionRow};
use crate::numeric::{I128Numeric, U64Numeric};
use crate::outbox::EventType;
use crate::schema::{payments, sessions, unmatched_payments};

/// What an UPDATE of a session does to its claim columns.
pub(super) enum ClaimWrite {
    Take(TxHash, ClaimSource),
    /// Leave the claim as it is (a credit beside another transaction's claim).
    Keep,
    Clear,
}

/// The one UPDATE of a session's money and status. Callers have checked the transition.
pub(super) async fn update_session(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    status: SessionStatus,
    amount_received: Amount,
    claim: ClaimWrite,
) -> Result<Session, StoreError> {
    use diesel::sql_types::{Nullable, Timestamptz};
    let money = (
        sessions::status.eq(PgSessionStatus(status)),
        sessions::amount_received.eq(amount_received.stroops()),
    );
    let target = diesel::update(sessions::table.find(id));
    let row = match claim {
        ClaimWrite::Keep => {
            target
                .set(money)
                .returning(SessionRow::as_returning())
                .get_result(conn)
                .await?
        }
        ClaimWrite::Take(hash, source) => {
            // The claim's start is the database's clock: "stuck for 5 minutes" is measured
            // against it.
            let now = diesel::dsl::sql::<Nullable<Timestamptz>>("now()");
            target
                .set((
                    money,
                    sessions::processing_tx_hash.eq(Some(hash.to_string())),
                    sessions::processing_started_at.eq(now),
                    sessions::claim_source.eq(Some(source.as_str())),
                ))
                .returning(SessionRow::as_returning())
                .get_result(conn)
                .await?
        }
        ClaimWrite::Clear => {
            target
                .set((
                    money,
                    sessions::processing_tx_hash.eq(None::<String>),
                    sessions::processing_started_at.eq(None::<chrono::DateTime<chrono::Utc>>),
                    sessions::claim_source.eq(None::<String>),
                ))
                .returning(SessionRow::as_returning())
                .get_result(conn)
                .await?
        }
    };
    Session::try_from(row)
}

/// Characters of an unmatched row's `detail`: enough to diagnose, not a stranger's essay.
const MAX_DETAIL: usize = 1000;

pub(super) struct Unmatched<'a> {
    pub(super) reason: UnmatchedReason,
    pub(super) session_id: Option<Uuid>,
    pub(super) detail: Option<&'a str>,
}

pub(super) async fn record_unmatched(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
    record: &LedgerRecord,
    credit: Option<&Credit>,
    u: Unmatched<'_>,
    work: &mut Work,
) -> Result<Applied, StoreError> {
    // A payer chose these bytes: they are kept exactly in `bytea`, and only an escaped
    // rendering reaches a text column (PostgreSQL's text refuses NUL and invalid UTF-8).
    let (memo_value, memo_bytes) = match &record.memo {
        Memo::None => (None, None),
        Memo::Id(id) => (Some(id.to_string()), None),
        Memo::Text(t) => (Some(t.escaped()), Some(t.as_bytes().to_vec())),
        Memo::Hash(h) | Memo::Return(h) => (Some(hex::encode(h)), Some(h.to_vec())),
    };
    let row = NewUnmatchedPayment {
        op_id: record.op_id,
        tx_hash: record.tx_hash.to_string(),
        account: account.to_string(),
        amount: credit.map(|c| I128Numeric(i128::from(c.amount.stroops()))),
        asset: credit.map(|c| c.asset.to_string()),
        from_address: credit.and_then(|c| c.from).map(|a| a.to_string()),
        memo_type: Some(record.memo.type_name().to_owned()),
        memo_value,
        memo_bytes,
        muxed_id: credit.and_then(|c| c.muxed_id).map(U64Numeric),
        reason: u.reason,
        session_id: u.session_id,
        ledger: Some(ledger_i32(record.ledger)?),
        // Details quote what the source sent (an operation type, a bad field).
        detail: u.detail.map(|d| text::escape_bounded(d, MAX_DETAIL)),
    };
    let inserted = diesel::insert_into(unmatched_payments::table)
        .values(row)
        .on_conflict(unmatched_payments::op_id)
        .do_nothing()
        .execute(conn)
        .await?;
    if inserted == 0 {
        return Ok(Applied::AlreadyHandled);
    }
    let event = if u.reason.is_late_payment() {
        EventType::SessionLatePayment
    } else {
        EventType::PaymentUnmatched
    };
    let payload = json!({
        "op_id": record.op_id.to_string(),
        "tx_hash": record.tx_hash.to_string(),
        "account": account.to_string(),
        "amount": credit.map(|c| c.amount.to_string()),
        "asset": credit.map(|c| c.asset.to_string()),
        "reason": u.reason.as_str(),
        "session_id": u.session_id,
        "ledger": record.ledger,
    });
    work.emit(event, u.session_id, payload);
    Ok(Applied::Unmatched {
        reason: u.reason,
        session_id: u.session_id,
    })
}

pub(super) async fn payment_exists(
    conn: &mut AsyncPgConnection,
    tx_hash: TxHash,
    session_id: Uuid,
) -> Result<bool, StoreError> {
    use diesel::dsl::exists;
    Ok(diesel::select(exists(
        payments::table
            .filter(payments::tx_hash.eq(tx_hash.to_string()))
            .filter(payments::session_id.eq(session_id)),
    ))
    .get_result(conn)
    .await?)
}

pub(super) fn ledger_i32(ledger: u32) -> Result<i32, StoreError> {
    i32::try_from(ledger).map_err(|_| StoreError::Corrupt(format!("ledger {ledger} exceeds int4")))
}

/// The session as merchants see it in events.
pub(super) fn session_payload(s: &Session, extra: serde_json::Value) -> serde_json::Value {
    let mut payload = json!({
        "session_id": s.id,
        "status": s.status.as_str(),
        "account": s.account.to_string(),
        "reference": s.reference.to_string(),
        "asset": s.asset.to_string(),
        "amount": s.amount.to_string(),
        "amount_received": s.amount_received.to_string(),
        "overpaid": s.is_overpaid(),
        "order_id": s.order_id,
    });
    if let (Some(map), serde_json::Value::Object(extra)) = (payload.as_object_mut(), extra) {
        map.extend(extra);
    }
    payload
}
