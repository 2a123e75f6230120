//! The statements that write: a session (one, or a batch's in one UPDATE), the payments and
//! their operations, the unmatched rows, the outgoing rows and the refunds they complete; and
//! the helpers they share.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use orbitpay_core::{AccountId, Amount, SessionStatus, TxHash};
use uuid::Uuid;

use std::collections::{HashMap, HashSet};

use crate::StoreError;
use crate::models::{
    ClaimSource, NewOutgoingPayment, NewPayment, NewUnmatchedPayment, PgSessionStatus, RefundRow,
    Session, SessionRow,
};
use crate::refunds::{AWAITING_SIGNATURE, COMPLETED};
use crate::schema::{outgoing_payments, payments, refunds, sessions, unmatched_payments};

diesel::define_sql_function! {
    /// The transaction's start on the database's clock, which claims age by. A function rather
    /// than an `sql("now()")` literal, which diesel never caches: the statements stay prepared.
    #[sql_name = "now"]
    fn db_now() -> diesel::sql_types::Timestamptz;
}

/// What an UPDATE of a session does to its claim columns.
#[derive(Debug, Clone, Copy)]
pub(super) enum ClaimWrite {
    Take(TxHash, ClaimSource),
    /// Leave the claim as it is (a credit beside another transaction's claim).
    Keep,
    Clear,
}

/// A session's state as this transaction leaves it.
pub(super) struct SessionWrite {
    pub status: SessionStatus,
    pub amount_received: Amount,
    pub claim: ClaimWrite,
}

/// The one UPDATE of a session's money and status. Callers have checked the transition.
pub(super) async fn update_session(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    status: SessionStatus,
    amount_received: Amount,
    claim: ClaimWrite,
) -> Result<Session, StoreError> {
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
            let now = db_now().nullable();
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

/// Whether `tx_hash` paid the session: the row's own (outer) hash or, for a fee-bump, its
/// inner one, which a wallet may report after the stream settled the outer.
pub(super) async fn payment_exists(
    conn: &mut AsyncPgConnection,
    tx_hash: TxHash,
    session_id: Uuid,
) -> Result<bool, StoreError> {
    use diesel::dsl::exists;
    let hash = tx_hash.to_string();
    Ok(diesel::select(exists(
        payments::table
            .filter(payments::session_id.eq(session_id))
            .filter(
                payments::tx_hash
                    .eq(&hash)
                    .or(payments::inner_tx_hash.eq(&hash)),
            ),
    ))
    .get_result(conn)
    .await?)
}

pub(super) fn ledger_i32(ledger: u32) -> Result<i32, StoreError> {
    i32::try_from(ledger).map_err(|_| StoreError::Corrupt(format!("ledger {ledger} exceeds int4")))
}

/// The final state of every session a batch touched, in one UPDATE. `Keep` leaves the claim
/// columns as they are; `Take` starts the claim at the database's `now()` (the recovery job
/// ages claims by it).
pub(super) async fn update_sessions(
    conn: &AsyncPgConnection,
    writes: &[(Uuid, SessionWrite)],
) -> Result<(), StoreError> {
    use diesel::sql_types::{Array, BigInt, Nullable, Text};
    if writes.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = writes.iter().map(|(id, _)| *id).collect();
    let statuses: Vec<&str> = writes.iter().map(|(_, w)| w.status.as_str()).collect();
    let received: Vec<i64> = writes
        .iter()
        .map(|(_, w)| w.amount_received.stroops())
        .collect();
    let (mut claims, mut hashes, mut sources) = (Vec::new(), Vec::new(), Vec::new());
    for (_, w) in writes {
        let (claim, hash, source) = match w.claim {
            ClaimWrite::Take(hash, source) => {
                ("take", Some(hash.to_string()), Some(source.as_str()))
            }
            ClaimWrite::Keep => ("keep", None, None),
            ClaimWrite::Clear => ("clear", None, None),
        };
        claims.push(claim);
        hashes.push(hash);
        sources.push(source);
    }
    let updated = crate::prepared::prepared(
        "UPDATE sessions AS s SET
            status = v.status::session_status,
            amount_received = v.amount_received,
            processing_tx_hash = CASE v.claim WHEN 'keep' THEN s.processing_tx_hash ELSE v.tx_hash END,
            processing_started_at = CASE v.claim WHEN 'keep' THEN s.processing_started_at
                                                 WHEN 'take' THEN now() END,
            claim_source = CASE v.claim WHEN 'keep' THEN s.claim_source ELSE v.source END
         FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[])
           AS v(id, status, amount_received, claim, tx_hash, source)
         WHERE s.id = v.id",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(&ids)
    .bind::<Array<Text>, _>(&statuses)
    .bind::<Array<BigInt>, _>(&received)
    .bind::<Array<Text>, _>(&claims)
    .bind::<Array<Nullable<Text>>, _>(&hashes)
    .bind::<Array<Nullable<Text>>, _>(&sources)
    .execute(&mut &*conn)
    .await?;
    if updated != writes.len() {
        return Err(StoreError::Corrupt(format!(
            "updated {updated} of {} locked sessions",
            writes.len()
        )));
    }
    Ok(())
}

/// A payment row's key, as its upsert returned it.
#[derive(QueryableByName)]
pub(super) struct PaymentKey {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub tx_hash: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub session_id: Uuid,
}

/// Every (transaction, session) payment of a batch in one upsert over arrays (constant text, so
/// it stays prepared): a row that exists (an earlier operation of the same transaction) gets
/// the amount added. The batch holds each (transaction, session) once, as one statement must.
pub(super) async fn upsert_payments(
    conn: &AsyncPgConnection,
    rows: &[NewPayment],
) -> Result<Vec<PaymentKey>, StoreError> {
    use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Uuid as SqlUuid};
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let sessions: Vec<Uuid> = rows.iter().map(|r| r.session_id).collect();
    let hashes: Vec<&str> = rows.iter().map(|r| r.tx_hash.as_str()).collect();
    let amounts: Vec<i64> = rows.iter().map(|r| r.amount).collect();
    let assets: Vec<&str> = rows.iter().map(|r| r.asset.as_str()).collect();
    let ledgers: Vec<i32> = rows.iter().map(|r| r.ledger).collect();
    let inner: Vec<Option<&str>> = rows.iter().map(|r| r.inner_tx_hash.as_deref()).collect();
    let from: Vec<Option<&str>> = rows.iter().map(|r| r.from_address.as_deref()).collect();
    // A row that exists keeps its payer: the transaction's first operation to the session.
    let keys: Vec<PaymentKey> = crate::prepared::prepared(
        "INSERT INTO payments (session_id, tx_hash, amount, asset, ledger, inner_tx_hash,
                              from_address)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::int[],
                              $6::text[], $7::text[])
         ON CONFLICT (tx_hash, session_id) DO UPDATE SET amount = payments.amount + excluded.amount
         RETURNING id, tx_hash, session_id",
    )
    .bind::<Array<SqlUuid>, _>(&sessions)
    .bind::<Array<Text>, _>(&hashes)
    .bind::<Array<BigInt>, _>(&amounts)
    .bind::<Array<Text>, _>(&assets)
    .bind::<Array<Integer>, _>(&ledgers)
    .bind::<Array<Nullable<Text>>, _>(&inner)
    .bind::<Array<Nullable<Text>>, _>(&from)
    .load(&mut &*conn)
    .await?;
    Ok(keys)
}

/// Every credited operation of a batch in one insert over arrays; its primary key (account,
/// op id) is the last guard against crediting an op twice to the account.
pub(super) async fn insert_operations(
    conn: &AsyncPgConnection,
    account: &AccountId,
    payments: &[NewPayment],
    keys: &[PaymentKey],
    operations: &[(i64, usize, i64)],
) -> Result<(), StoreError> {
    use diesel::sql_types::{Array, BigInt};
    if operations.is_empty() {
        return Ok(());
    }
    let ids: HashMap<(&str, Uuid), i64> = keys
        .iter()
        .map(|k| ((k.tx_hash.as_str(), k.session_id), k.id))
        .collect();
    let (mut op_ids, mut payment_ids, mut amounts) = (Vec::new(), Vec::new(), Vec::new());
    for &(op_id, index, amount) in operations {
        let p = &payments[index];
        let payment_id = *ids
            .get(&(p.tx_hash.as_str(), p.session_id))
            .ok_or_else(|| StoreError::Corrupt(format!("no payment row for op {op_id}")))?;
        op_ids.push(op_id);
        payment_ids.push(payment_id);
        amounts.push(amount);
    }
    crate::prepared::prepared(
        "INSERT INTO payment_operations (account, op_id, payment_id, amount)
         SELECT $1::text, v.* FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS v",
    )
    .bind::<diesel::sql_types::Text, _>(account.to_string())
    .bind::<Array<BigInt>, _>(&op_ids)
    .bind::<Array<BigInt>, _>(&payment_ids)
    .bind::<Array<BigInt>, _>(&amounts)
    .execute(&mut &*conn)
    .await?;
    Ok(())
}

/// Every unmatched row of a batch (all of one account) in one insert. Returns the op ids
/// another transaction had inserted first for that account (no row lock orders unmatched money
/// that names no session).
pub(super) async fn insert_unmatched(
    conn: &AsyncPgConnection,
    rows: Vec<NewUnmatchedPayment>,
) -> Result<HashSet<i64>, StoreError> {
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    let op_ids: Vec<i64> = rows.iter().map(|r| r.op_id).collect();
    let inserted: HashSet<i64> = diesel::insert_into(unmatched_payments::table)
        .values(rows)
        .on_conflict((unmatched_payments::account, unmatched_payments::op_id))
        .do_nothing()
        .returning(unmatched_payments::op_id)
        .get_results::<i64>(&mut &*conn)
        .await?
        .into_iter()
        .collect();
    Ok(taken_by_others(op_ids, &inserted))
}

/// Inserts the outgoing rows; returns the op ids another transaction had inserted first.
pub(super) async fn insert_outgoing(
    conn: &AsyncPgConnection,
    rows: Vec<NewOutgoingPayment>,
) -> Result<HashSet<i64>, StoreError> {
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    let op_ids: Vec<i64> = rows.iter().map(|r| r.op_id).collect();
    let inserted: HashSet<i64> = diesel::insert_into(outgoing_payments::table)
        .values(rows)
        .on_conflict((outgoing_payments::account, outgoing_payments::op_id))
        .do_nothing()
        .returning(outgoing_payments::op_id)
        .get_results::<i64>(&mut &*conn)
        .await?
        .into_iter()
        .collect();
    Ok(taken_by_others(op_ids, &inserted))
}

/// A refund an outgoing operation of this transaction completes.
pub(super) struct Completion {
    pub refund_id: Uuid,
    pub tx_hash: TxHash,
    pub closed_at: DateTime<Utc>,
}

/// Completes each refund (locked and read `awaiting_signature` by this transaction) and
/// returns the rows as they now stand, for their events. Refunds a batch completes are few
/// (one per refund-like operation), so one statement each.
pub(super) async fn complete_refunds(
    conn: &AsyncPgConnection,
    completions: &[Completion],
) -> Result<Vec<RefundRow>, StoreError> {
    let mut rows = Vec::with_capacity(completions.len());
    for c in completions {
        let row: Option<RefundRow> = diesel::update(
            refunds::table
                .find(c.refund_id)
                .filter(refunds::status.eq(AWAITING_SIGNATURE)),
        )
        .set((
            refunds::status.eq(COMPLETED),
            refunds::tx_hash.eq(c.tx_hash.to_string()),
            refunds::closed_at.eq(c.closed_at),
            refunds::updated_at.eq(db_now()),
        ))
        .returning(RefundRow::as_returning())
        .get_result(&mut &*conn)
        .await
        .optional()?;
        rows.push(row.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "refund {} was read awaiting under its lock, and is not",
                c.refund_id
            ))
        })?);
    }
    Ok(rows)
}

/// Of the op ids a batch meant to insert, those an `ON CONFLICT DO NOTHING` did not: another
/// transaction had inserted them first, so they are its to report.
fn taken_by_others(op_ids: Vec<i64>, inserted: &HashSet<i64>) -> HashSet<i64> {
    op_ids
        .into_iter()
        .filter(|op| !inserted.contains(op))
        .collect()
}
