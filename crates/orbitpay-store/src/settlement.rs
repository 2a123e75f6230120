//! Settlement: the transactions that turn ledger records into credited sessions.
//!
//! One purpose, past the ~500-line mark on purpose: the two settlement transactions and the
//! per-record decisions they share. The set-based rewrite of the performance work replaces
//! this file's row-at-a-time statements; it is split along that rewrite, not before it.
//!
//! Two committed steps, as the design requires:
//! 1. **claim**: lock each named session `FOR NO KEY UPDATE`, check its state, and move
//!    `pending -> processing` under the paying transaction's hash;
//! 2. **settle**: under the same locks, re-check everything, insert the payment (one row per
//!    transaction and session) and its operations (one row per op id), update the session,
//!    record unmatched money, write the outbox events and advance the account's cursor, all or
//!    nothing.
//!
//! Every decision is taken again inside the transaction, after the row lock, so a concurrent
//! instance or a redelivery can never credit twice: the idempotency check (is this op id
//! already in `payment_operations` or `unmatched_payments`?) runs under the lock, and the unique
//! constraints back it up.
//!
//! A session claimed by another transaction never holds a batch back: a credit from a second
//! transaction is decided at once, under the lock, and the first claim stays until it resolves
//! (see [`matching::settle`] for how the two meet).

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use orbitpay_core::matching::{self, Credit, IgnoreReason, SessionDecision, SessionView};
use orbitpay_core::{
    AccountId, Amount, LedgerRecord, Memo, Reference, SessionStatus, TxHash, UnmatchedReason, text,
};
use serde_json::json;
use uuid::Uuid;

use crate::models::{
    ClaimSource, NewOutboxEvent, NewPayment, NewUnmatchedPayment, PaymentOperationRow,
    PgSessionStatus, Session, SessionRow,
};
use crate::numeric::{I128Numeric, U64Numeric};
use crate::outbox::{self, EventType};
use crate::schema::{payment_operations, payments, sessions, unmatched_payments};
use crate::{StoreError, cursors};

/// What the matcher concluded about a record from the record alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Not a credit (outgoing, failed, self, sponsor-only): nothing to write.
    Skip(IgnoreReason),
    /// A credit naming a session of this account.
    Credit {
        credit: Credit,
        reference: Reference,
    },
    /// Money (or an uninterpretable record) that reaches no session whatever the database holds.
    Unmatched {
        credit: Option<Credit>,
        reason: UnmatchedReason,
        detail: Option<String>,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    pub record: &'a LedgerRecord,
    pub intent: &'a Intent,
}

/// What settling one item did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Skipped,
    /// Its op id was already credited or recorded: a redelivery, a no-op.
    AlreadyHandled,
    Credited {
        session_id: Uuid,
        status: SessionStatus,
        amount_received: Amount,
        overpaid: bool,
    },
    Unmatched {
        reason: UnmatchedReason,
        session_id: Option<Uuid>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimOutcome {
    /// The sessions this call moved to `processing`, and under which transaction.
    pub claimed: Vec<(Uuid, TxHash)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettleOutcome {
    /// One entry per item, in order.
    pub applied: Vec<Applied>,
    /// The cursor now stored for the account, when this batch moved it.
    pub cursor: Option<i64>,
}

/// What one settlement transaction has read and will write, so a batch of 200 records costs a
/// handful of round trips instead of a dozen per record.
///
/// Sessions are locked up front, all of them, in reference order (every instance locks in the
/// same order, so two batches cannot deadlock); the idempotency set is read after the locks, so
/// under READ COMMITTED it already holds whatever a competing transaction committed while we
/// waited. Events are appended at the end, in order, in one statement.
struct Work {
    sessions: HashMap<Reference, Session>,
    handled: HashSet<i64>,
    events: Vec<NewOutboxEvent>,
    /// Recorded on every claim this transaction takes.
    source: ClaimSource,
}

impl Work {
    async fn load(
        conn: &mut AsyncPgConnection,
        account: &AccountId,
        items: &[Item<'_>],
        source: ClaimSource,
    ) -> Result<Work, StoreError> {
        let mut references: Vec<U64Numeric> = items
            .iter()
            .filter_map(|i| match i.intent {
                Intent::Credit { reference, .. } => Some(U64Numeric::from(*reference)),
                _ => None,
            })
            .collect();
        references.sort_unstable_by_key(|r| r.0);
        references.dedup_by_key(|r| r.0);
        let mut sessions = HashMap::new();
        if !references.is_empty() {
            let rows: Vec<SessionRow> = sessions::table
                .filter(sessions::account.eq(account.to_string()))
                .filter(sessions::reference.eq_any(references))
                .order(sessions::reference.asc())
                .select(SessionRow::as_select())
                .for_no_key_update()
                .load(conn)
                .await?;
            for row in rows {
                let session = Session::try_from(row)?;
                sessions.insert(session.reference, session);
            }
        }
        let op_ids: Vec<i64> = items.iter().map(|i| i.record.op_id).collect();
        let handled: Vec<i64> = payment_operations::table
            .filter(payment_operations::op_id.eq_any(&op_ids))
            .select(payment_operations::op_id)
            .union_all(
                unmatched_payments::table
                    .filter(unmatched_payments::op_id.eq_any(&op_ids))
                    .select(unmatched_payments::op_id),
            )
            .load(conn)
            .await?;
        let handled = handled.into_iter().collect();
        Ok(Work {
            sessions,
            handled,
            events: Vec::new(),
            source,
        })
    }

    /// For single-session transactions (client reports, releases) that only emit events.
    fn empty(source: ClaimSource) -> Work {
        Work {
            sessions: HashMap::new(),
            handled: HashSet::new(),
            events: Vec::new(),
            source,
        }
    }

    /// The idempotency check: true (and remembered) the first time an op id is seen.
    fn first_time(&mut self, op_id: i64) -> bool {
        self.handled.insert(op_id)
    }

    fn emit(
        &mut self,
        event_type: EventType,
        session_id: Option<Uuid>,
        payload: serde_json::Value,
    ) {
        self.events
            .push(outbox::event(event_type, session_id, payload));
    }

    async fn flush(self, conn: &mut AsyncPgConnection) -> Result<(), StoreError> {
        outbox::insert_all(conn, &self.events).await
    }
}

/// Step 1 (the stream's): claims every pending session the batch pays. A session claimed by
/// another transaction is left to step 2, which credits beside that claim.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
    items: &[Item<'_>],
) -> Result<ClaimOutcome, StoreError> {
    if !items
        .iter()
        .any(|i| matches!(i.intent, Intent::Credit { .. }))
    {
        return Ok(ClaimOutcome::default());
    }
    conn.transaction(async |conn| {
        let mut work = Work::load(conn, account, items, ClaimSource::Stream).await?;
        let mut outcome = ClaimOutcome::default();
        for item in items {
            let Intent::Credit { credit, reference } = item.intent else {
                continue;
            };
            let Some(session) = work.sessions.get(reference).cloned() else {
                continue;
            };
            if !work.first_time(item.record.op_id) {
                continue;
            }
            // Only a pending session can be claimed; the rest is settle's to decide.
            if session.status != SessionStatus::Pending {
                continue;
            }
            if decide(conn, &session, credit, item.record).await? == SessionDecision::Claim {
                let claimed = claim_session(conn, &session, item.record.tx_hash, &mut work).await?;
                work.sessions.insert(*reference, claimed);
                outcome.claimed.push((session.id, item.record.tx_hash));
            }
        }
        work.flush(conn).await?;
        Ok(outcome)
    })
    .await
}

/// Step 2: settles every item in order and, when `up_to` is given, stores it as the cursor.
///
/// `up_to` is `None` on the client-reported path, where the stream still owns the cursor.
pub async fn settle(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
    items: &[Item<'_>],
    up_to: Option<i64>,
) -> Result<SettleOutcome, StoreError> {
    let source = match up_to {
        Some(_) => ClaimSource::Stream,
        None => ClaimSource::ClientReport,
    };
    conn.transaction(async |conn| {
        let mut work = Work::load(conn, account, items, source).await?;
        let mut outcome = SettleOutcome::default();
        for item in items {
            let record = item.record;
            let applied = match item.intent {
                Intent::Skip(_) => Applied::Skipped,
                _ if !work.first_time(record.op_id) => Applied::AlreadyHandled,
                Intent::Unmatched {
                    credit,
                    reason,
                    detail,
                } => {
                    let row = Unmatched {
                        reason: *reason,
                        session_id: None,
                        detail: detail.as_deref(),
                    };
                    record_unmatched(conn, account, record, credit.as_ref(), row, &mut work).await?
                }
                Intent::Credit { credit, reference } => match work.sessions.get(reference).cloned()
                {
                    Some(session) => {
                        let (applied, updated) =
                            settle_credit(conn, account, record, credit, session, &mut work)
                                .await?;
                        if let Some(updated) = updated {
                            work.sessions.insert(*reference, updated);
                        }
                        applied
                    }
                    None => {
                        let row = Unmatched {
                            reason: UnmatchedReason::UnknownReference,
                            session_id: None,
                            detail: None,
                        };
                        record_unmatched(conn, account, record, Some(credit), row, &mut work)
                            .await?
                    }
                },
            };
            outcome.applied.push(applied);
        }
        work.flush(conn).await?;
        if let Some(token) = up_to {
            outcome.cursor = Some(cursors::set(conn, account, token).await?);
        }
        Ok(outcome)
    })
    .await
}

/// The claim a client-reported transaction takes on a session.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportClaim {
    /// `processing` under this transaction (newly, or already from an earlier attempt).
    Claimed(Session),
    /// This transaction was already credited to the session.
    AlreadySettled(Session),
    /// Paid by another transaction, expired, cancelled, or claimed by another transaction.
    InvalidState(Session),
    NotFound,
}

pub async fn claim_reported(
    conn: &mut AsyncPgConnection,
    session_id: Uuid,
    tx_hash: TxHash,
) -> Result<ReportClaim, StoreError> {
    conn.transaction(async |conn| {
        let Some(session) = crate::sessions::lock(conn, session_id).await? else {
            return Ok(ReportClaim::NotFound);
        };
        if payment_exists(conn, tx_hash, session.id).await? {
            return Ok(ReportClaim::AlreadySettled(session));
        }
        Ok(match (session.status, session.processing) {
            (SessionStatus::Pending, _) => {
                let mut work = Work::empty(ClaimSource::ClientReport);
                let claimed = claim_session(conn, &session, tx_hash, &mut work).await?;
                work.flush(conn).await?;
                ReportClaim::Claimed(claimed)
            }
            (SessionStatus::Processing, Some(claim)) if claim.tx_hash == tx_hash => {
                ReportClaim::Claimed(session)
            }
            _ => ReportClaim::InvalidState(session),
        })
    })
    .await
}

/// Returns a session claimed by `tx_hash` to `pending` (the transaction is not on the ledger,
/// or did not pay this session). A no-op when the claim is gone already.
pub async fn release_claim(
    conn: &mut AsyncPgConnection,
    session_id: Uuid,
    tx_hash: TxHash,
    reason: &str,
) -> Result<Option<Session>, StoreError> {
    conn.transaction(async |conn| {
        let Some(session) = crate::sessions::lock(conn, session_id).await? else {
            return Ok(None);
        };
        if session.processing.map(|c| c.tx_hash) != Some(tx_hash) {
            return Ok(None);
        }
        let status = session.status.transition(SessionStatus::Pending)?;
        let updated = update_session(
            conn,
            session.id,
            status,
            session.amount_received,
            ClaimWrite::Clear,
        )
        .await?;
        let payload = session_payload(
            &updated,
            json!({ "tx_hash": tx_hash.to_string(), "reason": reason }),
        );
        outbox::insert(conn, EventType::SessionReleased, Some(session.id), payload).await?;
        Ok(Some(updated))
    })
    .await
}

async fn decide(
    conn: &mut AsyncPgConnection,
    session: &Session,
    credit: &Credit,
    record: &LedgerRecord,
) -> Result<SessionDecision, StoreError> {
    let credited_by_tx = session.status == SessionStatus::Paid
        && payment_exists(conn, record.tx_hash, session.id).await?;
    let view = SessionView {
        status: session.status,
        asset: &session.asset,
        processing_tx_hash: session.processing.map(|c| c.tx_hash),
        credited_by_tx,
        expires_at_us: session.expires_at.timestamp_micros(),
    };
    Ok(matching::decide(&credit.asset, record, Some(view)))
}

/// Settles one credit on a locked session.
async fn settle_credit(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
    record: &LedgerRecord,
    credit: &Credit,
    session: Session,
    work: &mut Work,
) -> Result<(Applied, Option<Session>), StoreError> {
    let decision = decide(conn, &session, credit, record).await?;
    let beside_claim = matches!(decision, SessionDecision::CreditBesideClaim { .. });
    let session = match decision {
        // Pending again since the claim step (a release in between, or an earlier operation of
        // this batch settled it short): claim and settle at once.
        SessionDecision::Claim => claim_session(conn, &session, record.tx_hash, work).await?,
        SessionDecision::Resume | SessionDecision::Extend => session,
        SessionDecision::CreditBesideClaim { claimed_by } => {
            tracing::info!(session_id = %session.id, tx_hash = %record.tx_hash, claimed_by = %claimed_by,
                           op_id = record.op_id, "crediting beside another transaction's claim");
            session
        }
        SessionDecision::Unmatched(reason) => {
            let late = reason.is_late_payment().then_some(session.id);
            let row = Unmatched {
                reason,
                session_id: late,
                detail: None,
            };
            let applied = record_unmatched(conn, account, record, Some(credit), row, work).await?;
            return Ok((applied, None));
        }
    };

    let payment = NewPayment {
        session_id: session.id,
        tx_hash: record.tx_hash.to_string(),
        amount: credit.amount.stroops(),
        asset: credit.asset.to_string(),
        ledger: ledger_i32(record.ledger)?,
    };
    // Several operations of one transaction paying one session make one payment: their sum.
    let payment_id: i64 = diesel::insert_into(payments::table)
        .values(&payment)
        .on_conflict((payments::tx_hash, payments::session_id))
        .do_update()
        .set(payments::amount.eq(payments::amount + excluded(payments::amount)))
        .returning(payments::id)
        .get_result(conn)
        .await?;
    diesel::insert_into(payment_operations::table)
        .values(&PaymentOperationRow {
            op_id: record.op_id,
            payment_id,
            amount: credit.amount.stroops(),
        })
        .execute(conn)
        .await?;

    let settled = matching::settle(
        session.amount,
        session.amount_received,
        credit.amount,
        beside_claim,
    )
    .map_err(|_| StoreError::AmountOverflow(session.id))?;
    let (status, event) = match session.status {
        SessionStatus::Paid => (SessionStatus::Paid, EventType::SessionOverpaid),
        from => {
            let to = from.transition(settled.status)?;
            (
                to,
                if to == SessionStatus::Paid {
                    EventType::SessionPaid
                } else {
                    EventType::SessionPartiallyPaid
                },
            )
        }
    };
    // Only a short credit beside another claim leaves the session processing; that claim stays
    // exactly as it was (hash, start, source), for the recovery job to age.
    let claim = if status == SessionStatus::Processing {
        ClaimWrite::Keep
    } else {
        ClaimWrite::Clear
    };
    let updated = update_session(conn, session.id, status, settled.amount_received, claim).await?;
    let payload = session_payload(
        &updated,
        json!({
            "tx_hash": record.tx_hash.to_string(),
            "op_id": record.op_id.to_string(),
            "credited": credit.amount.to_string(),
            "ledger": record.ledger,
        }),
    );
    work.emit(event, Some(session.id), payload);
    let applied = Applied::Credited {
        session_id: session.id,
        status,
        amount_received: settled.amount_received,
        overpaid: settled.overpaid,
    };
    Ok((applied, Some(updated)))
}

async fn claim_session(
    conn: &mut AsyncPgConnection,
    session: &Session,
    tx_hash: TxHash,
    work: &mut Work,
) -> Result<Session, StoreError> {
    let status = session.status.transition(SessionStatus::Processing)?;
    let updated = update_session(
        conn,
        session.id,
        status,
        session.amount_received,
        ClaimWrite::Take(tx_hash, work.source),
    )
    .await?;
    let payload = session_payload(
        &updated,
        json!({ "tx_hash": tx_hash.to_string(), "claim_source": work.source.as_str() }),
    );
    work.emit(EventType::SessionProcessing, Some(session.id), payload);
    Ok(updated)
}

/// What an UPDATE of a session does to its claim columns.
enum ClaimWrite {
    Take(TxHash, ClaimSource),
    /// Leave the claim as it is (a credit beside another transaction's claim).
    Keep,
    Clear,
}

/// The one UPDATE of a session's money and status. Callers have checked the transition.
async fn update_session(
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

struct Unmatched<'a> {
    reason: UnmatchedReason,
    session_id: Option<Uuid>,
    detail: Option<&'a str>,
}

async fn record_unmatched(
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

async fn payment_exists(
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

fn ledger_i32(ledger: u32) -> Result<i32, StoreError> {
    i32::try_from(ledger).map_err(|_| StoreError::Corrupt(format!("ledger {ledger} exceeds int4")))
}

/// The session as merchants see it in events.
fn session_payload(s: &Session, extra: serde_json::Value) -> serde_json::Value {
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
