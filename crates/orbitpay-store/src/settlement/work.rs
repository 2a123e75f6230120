//! What one settlement transaction reads before it decides anything, and the writes it
//! decides, applied at the end one statement per kind.
//!
//! Sessions are locked up front, all of them, in reference order (every instance locks in the
//! same order, so two batches cannot deadlock); the idempotency set is read after the locks, so
//! under READ COMMITTED it already holds whatever a competing transaction committed while we
//! waited. Decisions are then taken in memory, record by record in order, against the locked
//! rows as this transaction has changed them; nothing else can change those rows before the
//! commit. The writes follow: one UPDATE of every session touched (its final state), one
//! upsert of the payments, one insert of the operations, one of the unmatched rows, one of the
//! outbox events, all in the same transaction as the cursor.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use orbitpay_core::{AccountId, Address, Amount, LedgerRecord, Reference, SessionStatus, TxHash};
use uuid::Uuid;

use super::types::{Intent, Item};
use super::writes::{self, ClaimWrite, Completion, PaymentKey, SessionWrite};
use crate::StoreError;
use crate::events::{self, EventData};
use crate::models::{
    ClaimSource, NewOutboxEvent, NewOutgoingPayment, NewPayment, NewUnmatchedPayment,
    ProcessingClaim, RefundRow, Session, SessionRow,
};
use crate::numeric::U64Numeric;
use crate::outbox::{self, EventType};
use crate::schema::{
    outgoing_payments, payment_operations, payments, refunds, sessions, unmatched_payments,
};

/// An event, and (for an unmatched row) the op id whose insert it depends on: a row a
/// concurrent writer inserted first is that writer's, with its event.
struct QueuedEvent {
    event: NewOutboxEvent,
    unless_conflict: Option<i64>,
}

pub(super) struct Work {
    pub(super) sessions: HashMap<Reference, Session>,
    pub(super) handled: HashSet<i64>,
    /// (transaction, session) pairs that have a payment row: read for the batch's paid
    /// sessions, kept current as this transaction credits.
    credited: HashSet<(TxHash, Uuid)>,
    events: Vec<QueuedEvent>,
    /// Recorded on every claim this transaction takes.
    pub(super) source: ClaimSource,
    /// The transaction's `now()` (constant within it), the start of claims taken here.
    now: DateTime<Utc>,
    session_order: Vec<Uuid>,
    session_writes: HashMap<Uuid, SessionWrite>,
    payments: Vec<NewPayment>,
    payment_index: HashMap<(TxHash, Uuid), usize>,
    /// (op id, index into `payments`, stroops).
    operations: Vec<(i64, usize, i64)>,
    unmatched: Vec<NewUnmatchedPayment>,
    /// The account's refunds the batch's outgoing payments name, locked, in id order; a
    /// refund this transaction completes reads `completed` here.
    pub(super) refunds: Vec<RefundRow>,
    pub(super) outgoing: Vec<NewOutgoingPayment>,
    pub(super) completions: Vec<Completion>,
}

impl Work {
    /// Locks the sessions the items name, and `also` when given, in one statement.
    pub(super) async fn load(
        conn: &AsyncPgConnection,
        account: &AccountId,
        items: &[Item<'_>],
        also: Option<Reference>,
        source: ClaimSource,
    ) -> Result<Work, StoreError> {
        let mut references: Vec<U64Numeric> = items
            .iter()
            .filter_map(|i| match i.intent {
                Intent::Credit { reference, .. } => Some(U64Numeric::from(*reference)),
                _ => None,
            })
            .chain(also.map(U64Numeric::from))
            .collect();
        references.sort_unstable_by_key(|r| r.0);
        references.dedup_by_key(|r| r.0);
        let mut work = Work::empty(source);
        let shared: &AsyncPgConnection = conn;
        let locked = async {
            if references.is_empty() {
                return Ok(Vec::new());
            }
            // The transaction's now() rides along: it starts every claim taken here.
            sessions::table
                .filter(sessions::account.eq(account.to_string()))
                .filter(sessions::reference.eq_any(references))
                .order(sessions::reference.asc())
                .select((SessionRow::as_select(), writes::db_now()))
                .for_no_key_update()
                .load::<(SessionRow, DateTime<Utc>)>(&mut &*shared)
                .await
        };
        // The refunds a batch's outgoing payments may complete, locked after the sessions (in
        // every transaction that takes both) and before the handled ops are read.
        let mut destinations: Vec<String> = items
            .iter()
            .filter_map(|i| match i.intent {
                Intent::Outgoing(o) => o.to.map(|a| a.to_string()),
                _ => None,
            })
            .collect();
        destinations.sort_unstable();
        destinations.dedup();
        let refunds = async {
            if destinations.is_empty() {
                return Ok(Vec::new());
            }
            refunds::table
                .filter(refunds::account.eq(account.to_string()))
                .filter(refunds::destination.eq_any(&destinations))
                .order(refunds::id.asc())
                .select(RefundRow::as_select())
                .for_no_key_update()
                .load::<RefundRow>(&mut &*shared)
                .await
        };
        // Handled is per account: one contract operation paying two watched accounts is in
        // both accounts' payments under the same id, and each account credits its own part.
        let op_ids: Vec<i64> = items.iter().map(|i| i.record.op_id).collect();
        let handled = payment_operations::table
            .filter(payment_operations::account.eq(account.to_string()))
            .filter(payment_operations::op_id.eq_any(&op_ids))
            .select(payment_operations::op_id)
            .union_all(
                unmatched_payments::table
                    .filter(unmatched_payments::account.eq(account.to_string()))
                    .filter(unmatched_payments::op_id.eq_any(&op_ids))
                    .select(unmatched_payments::op_id),
            )
            .load::<i64>(&mut &*shared);
        let any_outgoing = items
            .iter()
            .any(|i| matches!(i.intent, Intent::Outgoing(_)));
        let outgoing_handled = async {
            if !any_outgoing {
                return Ok(Vec::new());
            }
            outgoing_payments::table
                .filter(outgoing_payments::account.eq(account.to_string()))
                .filter(outgoing_payments::op_id.eq_any(&op_ids))
                .select(outgoing_payments::op_id)
                .load::<i64>(&mut &*shared)
                .await
        };
        // Pipelined, and still after the locks: PostgreSQL runs a connection's statements in
        // the order sent, and each reads a fresh snapshot, so the handled ops are read once the
        // locks are held and see what a transaction we waited for committed.
        let (rows, refunds, handled, outgoing_handled) =
            futures::try_join!(locked, refunds, handled, outgoing_handled)?;
        work.refunds = refunds;
        for (row, now) in rows {
            let session = Session::try_from(row)?;
            work.sessions.insert(session.reference, session);
            work.now = now;
        }
        work.handled = handled.into_iter().chain(outgoing_handled).collect();
        // Only a paid session asks whether a transaction already paid it.
        let paid: Vec<Uuid> = work
            .sessions
            .values()
            .filter(|s| s.status == SessionStatus::Paid)
            .map(|s| s.id)
            .collect();
        if !paid.is_empty() {
            let hashes: Vec<String> = items.iter().map(|i| i.record.tx_hash.to_string()).collect();
            let rows: Vec<(String, Uuid)> = payments::table
                .filter(payments::session_id.eq_any(&paid))
                .filter(payments::tx_hash.eq_any(&hashes))
                .select((payments::tx_hash, payments::session_id))
                .load(&mut &*conn)
                .await?;
            for (hash, session_id) in rows {
                let hash: TxHash = hash
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("payments.tx_hash {hash}: {e}")))?;
                work.credited.insert((hash, session_id));
            }
        }
        Ok(work)
    }

    /// For single-session transactions (client reports, releases) that only emit events.
    pub(super) fn empty(source: ClaimSource) -> Work {
        Work {
            sessions: HashMap::new(),
            handled: HashSet::new(),
            credited: HashSet::new(),
            events: Vec::new(),
            source,
            now: DateTime::<Utc>::UNIX_EPOCH,
            session_order: Vec::new(),
            session_writes: HashMap::new(),
            payments: Vec::new(),
            payment_index: HashMap::new(),
            operations: Vec::new(),
            unmatched: Vec::new(),
            refunds: Vec::new(),
            outgoing: Vec::new(),
            completions: Vec::new(),
        }
    }

    /// The idempotency check: true (and remembered) the first time an op id is seen.
    pub(super) fn first_time(&mut self, op_id: i64) -> bool {
        self.handled.insert(op_id)
    }

    /// Whether `tx_hash` already has a payment on the session (read under its lock).
    pub(super) fn credited_by(&self, tx_hash: TxHash, session_id: Uuid) -> bool {
        self.credited.contains(&(tx_hash, session_id))
    }

    pub(super) fn emit(&mut self, event_type: EventType, data: impl Into<EventData>) {
        self.events.push(QueuedEvent {
            event: data.into().event(event_type),
            unless_conflict: None,
        });
    }

    /// Moves a locked session to `status` with `amount_received`, and returns it as it now
    /// stands. Callers have checked the transition. The row is written once, at flush.
    pub(super) fn update(
        &mut self,
        session: &Session,
        status: SessionStatus,
        amount_received: Amount,
        claim: ClaimWrite,
    ) -> Session {
        let mut updated = session.clone();
        updated.status = status;
        updated.amount_received = amount_received;
        updated.processing = match &claim {
            ClaimWrite::Take(tx_hash, source) => Some(ProcessingClaim {
                tx_hash: *tx_hash,
                started_at: self.now,
                source: *source,
            }),
            ClaimWrite::Keep => session.processing,
            ClaimWrite::Clear => None,
        };
        // A later write that keeps the claim keeps the one an earlier write here took.
        let claim = match (claim, self.session_writes.remove(&session.id)) {
            (ClaimWrite::Keep, Some(earlier)) => earlier.claim,
            (claim, None) => {
                self.session_order.push(session.id);
                claim
            }
            (claim, Some(_)) => claim,
        };
        self.session_writes.insert(
            session.id,
            SessionWrite {
                status,
                amount_received,
                claim,
            },
        );
        updated
    }

    /// Adds an operation to the (transaction, session) payment: one row holding the sum.
    pub(super) fn credit(
        &mut self,
        session_id: Uuid,
        record: &LedgerRecord,
        amount: Amount,
        asset: String,
        from: Option<&Address>,
    ) -> Result<(), StoreError> {
        let (tx_hash, op_id) = (record.tx_hash, record.op_id);
        let stroops = amount.stroops();
        let index = match self.payment_index.get(&(tx_hash, session_id)) {
            Some(&i) => {
                let payment = &mut self.payments[i];
                payment.amount = payment.amount.checked_add(stroops).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "payment {tx_hash} on session {session_id} exceeds its amount received"
                    ))
                })?;
                i
            }
            None => {
                self.payments.push(NewPayment {
                    session_id,
                    tx_hash: tx_hash.to_string(),
                    amount: stroops,
                    asset,
                    ledger: writes::ledger_i32(record.ledger)?,
                    inner_tx_hash: record.inner_tx_hash.map(|h| h.to_string()),
                    from_address: from.map(|a| a.to_string()),
                });
                self.payment_index
                    .insert((tx_hash, session_id), self.payments.len() - 1);
                self.payments.len() - 1
            }
        };
        self.operations.push((op_id, index, stroops));
        self.credited.insert((tx_hash, session_id));
        Ok(())
    }

    /// Records unmatched money; its event is written only if this transaction's row is.
    pub(super) fn unmatched(
        &mut self,
        row: NewUnmatchedPayment,
        event_type: EventType,
        data: events::UnmatchedPayment,
    ) {
        self.events.push(QueuedEvent {
            event: EventData::from(data).event(event_type),
            unless_conflict: Some(row.op_id),
        });
        self.unmatched.push(row);
    }

    /// Writes everything decided for `account`, one statement per kind. Returns the op ids
    /// of unmatched and outgoing rows another transaction had inserted first (their items
    /// are already handled).
    pub(super) async fn flush(
        self,
        conn: &AsyncPgConnection,
        account: &AccountId,
    ) -> Result<HashSet<i64>, StoreError> {
        let sessions: Vec<(Uuid, SessionWrite)> = {
            let mut writes = self.session_writes;
            self.session_order
                .iter()
                .filter_map(|id| writes.remove(id).map(|w| (*id, w)))
                .collect()
        };
        // Two round trips, each a pipeline of statements sent one behind the other (run in
        // that order): what needs no answer, then what needs the payment ids and conflicts.
        let ((), keys, mut conflicts, completed, outgoing_conflicts) = futures::try_join!(
            writes::update_sessions(conn, &sessions),
            writes::upsert_payments(conn, &self.payments),
            writes::insert_unmatched(conn, self.unmatched),
            writes::complete_refunds(conn, &self.completions),
            writes::insert_outgoing(conn, self.outgoing),
        )?;
        let keys: Vec<PaymentKey> = keys;
        let mut events: Vec<NewOutboxEvent> = self
            .events
            .into_iter()
            .filter(|e| e.unless_conflict.is_none_or(|op| !conflicts.contains(&op)))
            .map(|e| e.event)
            .collect();
        events.extend(completed.iter().map(|r| {
            EventData::from(events::RefundChange::of(r)).event(EventType::RefundCompleted)
        }));
        conflicts.extend(outgoing_conflicts);
        futures::try_join!(
            writes::insert_operations(conn, account, &self.payments, &keys, &self.operations),
            outbox::insert_all(conn, &events),
        )?;
        Ok(conflicts)
    }
}
