//! Settlement: the transactions that turn ledger records into credited sessions.
//!
//! Two committed steps, as the design requires:
//! 1. **claim**: lock each named session `FOR NO KEY UPDATE`, check its state, and move
//!    `pending -> processing` under the paying transaction's hash;
//! 2. **settle**: under the same locks, re-check everything, insert the payment (one row per
//!    transaction and session) and its operations (one row per account and op id), update the session,
//!    record unmatched money, write the outbox events and advance the account's cursor, all or
//!    nothing.
//!
//! Every decision is taken again inside the transaction, after the row lock, so a concurrent
//! instance or a redelivery can never credit twice: the idempotency check (is this op id
//! already in `payment_operations` or `unmatched_payments` for this account?) runs under the
//! lock, and the unique constraints back it up. Handled is per (account, op id): one contract
//! operation can pay two watched accounts, and each account's payments carry it under one id.
//!
//! A session claimed by another transaction never holds a batch back: a credit from a second
//! transaction is decided at once, under the lock, and the first claim stays until it resolves
//! (see [`matching::settle`] for how the two meet).
//!
//! Statements that do not wait for each other's answers are pipelined (futures polled
//! together on the shared connection): diesel-async sends them in the order polled, and
//! PostgreSQL runs them in that order. That order holds because every pipelined statement binds
//! only built-in types; a custom type's first bind waits for an OID lookup, and a statement
//! behind it could be sent first.
//!
//! The network follower's batch (network mode) is the same two steps over several accounts
//! in one transaction each ([`claim_network`], [`settle_network`]), with the network cursor.
//!
//! Files: this one holds the batch transactions and the per-record decisions; `work.rs` what
//! a transaction reads up front and the writes it queues; `unmatched.rs` the row and event of
//! money that credits no session; `outgoing.rs` the account's own payments, completing refunds; `writes.rs` the statements that write; `reported.rs` the
//! single-session transactions of the client-reported path; `types.rs` the terms they share
//! (intents, items, outcomes). Imports go one way: `types.rs` and `writes.rs` need none of the
//! others, `work.rs` needs those two, `unmatched.rs` and `reported.rs` need `work.rs`, `outgoing.rs` needs `unmatched.rs`, and
//! this file needs them all; none imports this file.

mod outgoing;
mod reported;
mod types;
mod unmatched;
mod work;
mod writes;

use std::collections::HashSet;

use diesel_async::{AsyncConnection, AsyncPgConnection};
use orbitpay_core::matching::{self, Credit, SessionDecision, SessionView};
use orbitpay_core::{AccountId, LedgerRecord, Reference, SessionStatus, TxHash, UnmatchedReason};

use crate::events::{self, SessionChange};
use crate::models::{ClaimSource, NewUnreadableRecord, Session};
use crate::outbox::EventType;
use crate::{StoreError, cursors};

pub use reported::{ReportClaim, claim_reported, release_claim};
pub use types::{Applied, ClaimOutcome, Intent, Item, OutgoingReason, SettleOutcome};
use unmatched::{Money, Unmatched, record_unmatched};
use work::Work;
use writes::ClaimWrite;

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
    conn.transaction(async |conn| claim_in(conn, account, items).await)
        .await
}

/// [`claim`]'s work, in the caller's transaction.
async fn claim_in(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
    items: &[Item<'_>],
) -> Result<ClaimOutcome, StoreError> {
    let mut work = Work::load(conn, account, items, None, ClaimSource::Stream).await?;
    let outcome = claims(items, &mut work)?;
    work.flush(conn, account).await?;
    Ok(outcome)
}

/// The claims step 1 takes, decided in memory on the locked rows.
fn claims(items: &[Item<'_>], work: &mut Work) -> Result<ClaimOutcome, StoreError> {
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
        // A credit that cannot be added is recorded by settle; it claims nothing.
        if decide(work, &session, credit, item.record) == SessionDecision::Claim
            && settlement_of(&session, credit, false).is_ok()
        {
            let claimed = claim_session(&session, item.record.tx_hash, work)?;
            work.sessions.insert(*reference, claimed);
            outcome.claimed.push((session.id, item.record.tx_hash));
        }
    }
    Ok(outcome)
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
    settle_locking(conn, account, items, up_to, None).await
}

/// [`settle`], also locking the session `also` names with the batch's own, in the same
/// statement and order, for a caller that decides on it in the same transaction afterwards
/// (recovery's stuck session). Locking it in a statement of its own, after the others, could
/// deadlock with a batch that locks it first and then one of the others.
pub(crate) async fn settle_locking(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
    items: &[Item<'_>],
    up_to: Option<i64>,
    also: Option<Reference>,
) -> Result<SettleOutcome, StoreError> {
    let source = match up_to {
        Some(_) => ClaimSource::Stream,
        None => ClaimSource::ClientReport,
    };
    conn.transaction(async |conn| settle_in(conn, account, items, up_to, also, source).await)
        .await
}

/// [`settle_locking`]'s work, in the caller's transaction; claims it takes record `source`.
async fn settle_in(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
    items: &[Item<'_>],
    up_to: Option<i64>,
    also: Option<Reference>,
    source: ClaimSource,
) -> Result<SettleOutcome, StoreError> {
    let mut work = Work::load(conn, account, items, also, source).await?;
    let mut outcome = settlements(account, items, &mut work)?;
    let shared: &AsyncPgConnection = conn;
    let cursor = async {
        match up_to {
            Some(token) => cursors::set(shared, account, token).await.map(Some),
            None => Ok(None),
        }
    };
    // The cursor rides in the flush's first pipeline: it needs nothing the flush answers.
    let (conflicts, cursor) = futures::try_join!(work.flush(shared, account), cursor)?;
    outcome.cursor = cursor;
    report_conflicts(items, &mut outcome, &conflicts);
    Ok(outcome)
}

/// Unmatched and outgoing rows a concurrent transaction inserted first are its to report.
fn report_conflicts(items: &[Item<'_>], outcome: &mut SettleOutcome, conflicts: &HashSet<i64>) {
    for (item, applied) in items.iter().zip(outcome.applied.iter_mut()) {
        if matches!(
            applied,
            Applied::Unmatched { .. } | Applied::OutgoingRecorded { .. }
        ) && conflicts.contains(&item.record.op_id)
        {
            *applied = Applied::AlreadyHandled;
        }
    }
}

/// Step 2's decisions, record by record in order, in memory on the locked rows.
fn settlements(
    account: &AccountId,
    items: &[Item<'_>],
    work: &mut Work,
) -> Result<SettleOutcome, StoreError> {
    let mut outcome = SettleOutcome::default();
    for item in items {
        let record = item.record;
        let applied = match item.intent {
            Intent::Skip(_) => Applied::Skipped,
            _ if !work.first_time(record.op_id) => Applied::AlreadyHandled,
            Intent::Unmatched {
                credit,
                contract,
                reason,
                detail,
            } => {
                let row = Unmatched {
                    reason: *reason,
                    session_id: None,
                    detail: detail.as_deref(),
                };
                let money = match (credit, contract) {
                    (Some(c), _) => Money::Credit(c),
                    (None, Some(c)) => Money::Contract(c),
                    (None, None) => Money::Unknown,
                };
                record_unmatched(account, record, money, row, work)?
            }
            Intent::Outgoing(out) => outgoing::settle_outgoing(account, record, out, work)?,
            Intent::Credit { credit, reference } => match work.sessions.get(reference).cloned() {
                Some(session) => {
                    let (applied, updated) = settle_credit(account, record, credit, session, work)?;
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
                    record_unmatched(account, record, Money::Credit(credit), row, work)?
                }
            },
        };
        outcome.applied.push(applied);
    }
    Ok(outcome)
}

/// One watched account's part of a network batch: its items, as its own stream's batch would
/// carry them.
pub type AccountItems<'a> = (AccountId, Vec<Item<'a>>);

/// Step 1 of a network batch: [`claim`] for every account in it, in one transaction, accounts
/// in the order given (the caller's fixed order: ascending account, as the settle's).
pub async fn claim_network(
    conn: &mut AsyncPgConnection,
    accounts: &[AccountItems<'_>],
) -> Result<Vec<ClaimOutcome>, StoreError> {
    if !accounts
        .iter()
        .flat_map(|(_, items)| items)
        .any(|i| matches!(i.intent, Intent::Credit { .. }))
    {
        return Ok(vec![ClaimOutcome::default(); accounts.len()]);
    }
    conn.transaction(async |conn| {
        let shared: &AsyncPgConnection = conn;
        let mut works = load_all(shared, accounts).await?;
        let outcomes = accounts
            .iter()
            .zip(works.iter_mut())
            .map(|((_, items), work)| claims(items, work))
            .collect::<Result<Vec<_>, _>>()?;
        flush_all(shared, accounts, works).await?;
        Ok(outcomes)
    })
    .await
}

/// Locks and reads every account's rows, pipelined: the statements go in account order and
/// PostgreSQL runs them in that order, so the locks are taken account by account.
async fn load_all(
    conn: &AsyncPgConnection,
    accounts: &[AccountItems<'_>],
) -> Result<Vec<Work>, StoreError> {
    futures::future::try_join_all(
        accounts
            .iter()
            .map(|(account, items)| Work::load(conn, account, items, None, ClaimSource::Stream)),
    )
    .await
}

/// Every account's writes, pipelined; each account's unmatched conflicts.
async fn flush_all(
    conn: &AsyncPgConnection,
    accounts: &[AccountItems<'_>],
    works: Vec<Work>,
) -> Result<Vec<HashSet<i64>>, StoreError> {
    futures::future::try_join_all(
        accounts
            .iter()
            .zip(works)
            .map(|((account, _), work)| work.flush(conn, account)),
    )
    .await
}

/// What a network batch writes besides the accounts' settlements.
#[derive(Debug, Clone, Copy)]
pub struct NetworkCursor<'a> {
    /// The network cursor the batch moves to.
    pub up_to: i64,
    /// Records the follower gave up reading: each stored for the account its bytes name, or
    /// under [`cursors::NETWORK`] when they name none.
    pub unreadable: &'a [NewUnreadableRecord],
    /// The accounts whose cursor moves with the network's (see [`cursors::advance_all`]).
    pub accounts: &'a [String],
}

/// Step 2 of a network batch, all or nothing: [`settle`] for every account in it (the same
/// decisions, the same per-account idempotency, without moving the account's own cursor),
/// the unreadable records, then the network cursor and the covered accounts' cursors.
///
/// Sessions are locked account by account in the order given, each account's in reference
/// order: one global order (account, reference) that every transaction follows (a
/// per-account one locks a single account's), so no two can deadlock. The accounts' reads and
/// writes are pipelined (see the module docs): a batch paying 100 accounts costs the round
/// trips of one, not of 100.
pub async fn settle_network(
    conn: &mut AsyncPgConnection,
    accounts: &[AccountItems<'_>],
    cursor: NetworkCursor<'_>,
) -> Result<Vec<SettleOutcome>, StoreError> {
    debug_assert!(accounts.is_sorted_by(|a, b| a.0 < b.0));
    conn.transaction(async |conn| {
        // Rare (a record given up on): before the pipelines, one by one.
        for row in cursor.unreadable {
            crate::unreadable::record(conn, row).await?;
        }
        let shared: &AsyncPgConnection = conn;
        let mut works = load_all(shared, accounts).await?;
        let mut outcomes = accounts
            .iter()
            .zip(works.iter_mut())
            .map(|((account, items), work)| settlements(account, items, work))
            .collect::<Result<Vec<_>, _>>()?;
        let cursors = async {
            cursors::set_network(shared, cursor.up_to).await?;
            cursors::advance_all(shared, cursor.accounts, cursor.up_to).await
        };
        let (conflicts, ()) = futures::try_join!(flush_all(shared, accounts, works), cursors)?;
        for (((_, items), outcome), conflicts) in accounts.iter().zip(&mut outcomes).zip(&conflicts)
        {
            report_conflicts(items, outcome, conflicts);
        }
        Ok(outcomes)
    })
    .await
}

/// Decides a credit against the locked session as this transaction has left it.
fn decide(
    work: &Work,
    session: &Session,
    credit: &Credit,
    record: &LedgerRecord,
) -> SessionDecision {
    let credited_by_tx =
        session.status == SessionStatus::Paid && work.credited_by(record.tx_hash, session.id);
    let view = SessionView {
        status: session.status,
        asset: &session.asset,
        processing_tx_hash: session.processing.map(|c| c.tx_hash),
        credited_by_tx,
        expires_at_us: session.expires_at.timestamp_micros(),
    };
    matching::decide(&credit.asset, record, Some(view))
}

/// Settles one credit on a locked session.
fn settle_credit(
    account: &AccountId,
    record: &LedgerRecord,
    credit: &Credit,
    session: Session,
    work: &mut Work,
) -> Result<(Applied, Option<Session>), StoreError> {
    let decision = decide(work, &session, credit, record);
    let beside_claim = matches!(decision, SessionDecision::CreditBesideClaim { .. });
    if let SessionDecision::Unmatched(reason) = decision {
        let late = reason.is_late_payment().then_some(session.id);
        let row = Unmatched {
            reason,
            session_id: late,
            detail: None,
        };
        let applied = record_unmatched(account, record, Money::Credit(credit), row, work)?;
        return Ok((applied, None));
    }
    let settled = match settlement_of(&session, credit, beside_claim) {
        Ok(settled) => settled,
        Err(overflow) => {
            // Recorded on its session before any claim or write; the rest of the batch goes on.
            tracing::warn!(session_id = %session.id, tx_hash = %record.tx_hash, op_id = record.op_id,
                           "credit would overflow the session's amount received; recorded as unmatched");
            let detail = format!(
                "{overflow}: {} received + {} credited",
                session.amount_received, credit.amount
            );
            let row = Unmatched {
                reason: UnmatchedReason::AmountOverflow,
                session_id: Some(session.id),
                detail: Some(&detail),
            };
            let applied = record_unmatched(account, record, Money::Credit(credit), row, work)?;
            return Ok((applied, None));
        }
    };
    let session = match decision {
        // Pending again since the claim step (a release in between, or an earlier operation of
        // this batch settled it short): claim and settle at once.
        SessionDecision::Claim => claim_session(&session, record.tx_hash, work)?,
        SessionDecision::Resume | SessionDecision::Extend => session,
        SessionDecision::CreditBesideClaim { claimed_by } => {
            tracing::info!(session_id = %session.id, tx_hash = %record.tx_hash, claimed_by = %claimed_by,
                           op_id = record.op_id, "crediting beside another transaction's claim");
            session
        }
        SessionDecision::Unmatched(_) => unreachable!("recorded above"),
    };

    // Several operations of one transaction paying one session make one payment: their sum.
    work.credit(
        session.id,
        record,
        credit.amount,
        credit.asset.to_string(),
        credit.from.as_ref(),
    )?;

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
    let updated = work.update(&session, status, settled.amount_received, claim);
    let data = events::Credited {
        session: SessionChange::of(&updated),
        tx_hash: record.tx_hash.to_string(),
        op_id: record.op_id.to_string(),
        credited: credit.amount.to_string(),
        ledger: record.ledger,
    };
    work.emit(event, data);
    let applied = Applied::Credited {
        session_id: session.id,
        status,
        amount_received: settled.amount_received,
        overpaid: settled.overpaid,
    };
    Ok((applied, Some(updated)))
}

/// What crediting `credit` does to the session. The one overflow check: a payments row holds
/// part of its session's `amount_received`, so whatever fits there fits in the row.
fn settlement_of(
    session: &Session,
    credit: &Credit,
    beside_claim: bool,
) -> Result<matching::Settlement, matching::SettlementOverflow> {
    matching::settle(
        session.amount,
        session.amount_received,
        credit.amount,
        beside_claim,
    )
}

/// `pending -> processing` under `tx_hash`, written with the batch.
fn claim_session(
    session: &Session,
    tx_hash: TxHash,
    work: &mut Work,
) -> Result<Session, StoreError> {
    let status = session.status.transition(SessionStatus::Processing)?;
    let source = work.source;
    let updated = work.update(
        session,
        status,
        session.amount_received,
        ClaimWrite::Take(tx_hash, source),
    );
    let data = events::Claimed {
        session: SessionChange::of(&updated),
        tx_hash: tx_hash.to_string(),
        claim_source: source.as_str().to_owned(),
    };
    work.emit(EventType::SessionProcessing, data);
    Ok(updated)
}
