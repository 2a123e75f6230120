//! What one settlement transaction reads before it decides anything.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use orbitpay_core::{AccountId, Reference};
use uuid::Uuid;

use super::{Intent, Item};
use crate::StoreError;
use crate::models::{ClaimSource, NewOutboxEvent, Session, SessionRow};
use crate::numeric::U64Numeric;
use crate::outbox::{self, EventType};
use crate::schema::{payment_operations, sessions, unmatched_payments};

/// What one settlement transaction has read and will write, so a batch of 200 records costs a
/// handful of round trips instead of a dozen per record.
///
/// Sessions are locked up front, all of them, in reference order (every instance locks in the
/// same order, so two batches cannot deadlock); the idempotency set is read after the locks, so
/// under READ COMMITTED it already holds whatever a competing transaction committed while we
/// waited. Events are appended at the end, in order, in one statement.
pub(super) struct Work {
    pub(super) sessions: HashMap<Reference, Session>,
    pub(super) handled: HashSet<i64>,
    pub(super) events: Vec<NewOutboxEvent>,
    /// Recorded on every claim this transaction takes.
    pub(super) source: ClaimSource,
}

impl Work {
    pub(super) async fn load(
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
    pub(super) fn empty(source: ClaimSource) -> Work {
        Work {
            sessions: HashMap::new(),
            handled: HashSet::new(),
            events: Vec::new(),
            source,
        }
    }

    /// The idempotency check: true (and remembered) the first time an op id is seen.
    pub(super) fn first_time(&mut self, op_id: i64) -> bool {
        self.handled.insert(op_id)
    }

    pub(super) fn emit(
        &mut self,
        event_type: EventType,
        session_id: Option<Uuid>,
        payload: serde_json::Value,
    ) {
        self.events
            .push(outbox::event(event_type, session_id, payload));
    }

    pub(super) async fn flush(self, conn: &mut AsyncPgConnection) -> Result<(), StoreError> {
        outbox::insert_all(conn, &self.events).await
    }
}
