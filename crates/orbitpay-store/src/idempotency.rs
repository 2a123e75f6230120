//! Idempotency keys (Stripe / IETF `Idempotency-Key`): the first request with a key takes a
//! lock row, the request's effects and its response commit together with that row, and every
//! later request with the key replays the stored response.
//!
//! The lock is the row itself: `locked_at` is set while the first request runs and doubles as
//! the owner's token, so a request whose lock was taken over (it ran past the stale bound)
//! cannot overwrite the winner's result.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{
    AsyncConnection as _, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection as _,
};
use uuid::Uuid;

use diesel::data_types::PgInterval;
use diesel::dsl::sql;
use diesel::sql_types::{Bytea, Interval, Nullable, SmallInt, Text, Timestamptz};

use crate::StoreError;
use crate::models::IdempotencyKeyRow;
use crate::prepared::prepared;
use crate::schema::idempotency_keys;

/// The lock token a statement returns.
#[derive(QueryableByName)]
struct Token {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    locked_at: Option<DateTime<Utc>>,
}

/// What the first step of an idempotent request found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// This request owns the key; `token` must be passed to [`complete`] or [`release`].
    Started { token: DateTime<Utc> },
    /// The key already has a result for the same request: replay it.
    Replay { status: u16, body: Vec<u8> },
    /// The key was used with a different request.
    Mismatch,
    /// The first request with this key is still running (its lock is fresh).
    InUse,
}

/// How `begin` treats old rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// A key older than this is forgotten (as if pruned) and may start anew.
    pub ttl: Duration,
    /// A lock older than this belongs to a request that crashed; it may be taken over.
    pub stale_lock_after: Duration,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        KeyPolicy {
            ttl: Duration::from_secs(24 * 3600),
            stale_lock_after: Duration::from_secs(60),
        }
    }
}

fn interval(age: Duration) -> PgInterval {
    PgInterval::from_microseconds(i64::try_from(age.as_micros()).unwrap_or(i64::MAX))
}

/// Takes the key for a request with this fingerprint, or says why not.
///
/// Run it on its own (autocommit), not inside the request's transaction: the lock row must be
/// visible to a concurrent request with the same key while the first one runs.
pub async fn begin(
    conn: &mut AsyncPgConnection,
    key: &str,
    fingerprint: &[u8; 32],
    policy: KeyPolicy,
) -> Result<Begin, StoreError> {
    conn.transaction(async |conn| {
        // This commit only takes the key; it need not wait for its WAL flush. Lost in a crash,
        // it took nothing the client saw: the request's result commits later, synchronously
        // (which flushes this commit's WAL too), and a retry simply runs again. One fsync per
        // request instead of two. (Simple protocol: one round trip, nothing to prepare.)
        // Pipelined with the insert (one round trip; run in the order sent).
        let (mut setting, mut inserting): (&AsyncPgConnection, &AsyncPgConnection) = (conn, conn);
        let set = setting.batch_execute("SET LOCAL synchronous_commit = off");
        // Inserted already locked: the token is the insert's own clock_timestamp().
        let insert = prepared(
            "INSERT INTO idempotency_keys (key, request_fingerprint, locked_at)
             VALUES ($1, $2, clock_timestamp())
             ON CONFLICT DO NOTHING
             RETURNING locked_at",
        )
        .bind::<Text, _>(key)
        .bind::<Bytea, _>(fingerprint.as_slice())
        .get_result::<Token>(&mut inserting);
        let ((), inserted) = futures::try_join!(set, async { insert.await.optional() })?;
        if let Some(Token { locked_at }) = inserted {
            let token = locked_at.ok_or_else(|| {
                StoreError::Corrupt(format!("idempotency key {key:?} inserted without its lock"))
            })?;
            return Ok(Begin::Started { token });
        }
        // READ COMMITTED: a concurrent first insert made ours wait and then do nothing; the
        // row is committed now and visible to this statement.
        let row: IdempotencyKeyRow = idempotency_keys::table
            .find(key)
            .select(IdempotencyKeyRow::as_select())
            .for_update()
            .first(conn)
            .await?;
        let db_now: DateTime<Utc> = diesel::select(sql::<Timestamptz>("now()"))
            .get_result(conn)
            .await?;
        // An expired key is forgotten here, whether or not the prune job ran yet: the row
        // starts again as this request's, as if it had just been inserted.
        let ttl = chrono::Duration::from_std(policy.ttl).unwrap_or(chrono::Duration::MAX);
        if row.created_at < db_now - ttl {
            let token = restart(conn, key, fingerprint).await?;
            return Ok(Begin::Started { token });
        }
        if row.request_fingerprint != fingerprint {
            return Ok(Begin::Mismatch);
        }
        if let (Some(status), Some(body)) = (row.response_status, row.response_body) {
            return Ok(Begin::Replay {
                status: u16::try_from(status)
                    .map_err(|_| StoreError::Corrupt(format!("idempotency key status {status}")))?,
                body,
            });
        }
        let stale_before = db_now
            - chrono::Duration::from_std(policy.stale_lock_after).unwrap_or(chrono::Duration::MAX);
        let is_stale = row.locked_at.is_none_or(|t| t < stale_before);
        if is_stale {
            let token = lock(conn, key).await?;
            Ok(Begin::Started { token })
        } else {
            Ok(Begin::InUse)
        }
    })
    .await
}

/// Makes an expired key's row a fresh one for `fingerprint`, locked (what deleting it and
/// inserting anew would leave).
async fn restart(
    conn: &mut AsyncPgConnection,
    key: &str,
    fingerprint: &[u8; 32],
) -> Result<DateTime<Utc>, StoreError> {
    let token: Option<DateTime<Utc>> = diesel::update(idempotency_keys::table.find(key))
        .set((
            idempotency_keys::request_fingerprint.eq(fingerprint.as_slice()),
            idempotency_keys::response_status.eq(None::<i16>),
            idempotency_keys::response_body.eq(None::<Vec<u8>>),
            idempotency_keys::session_id.eq(None::<Uuid>),
            idempotency_keys::created_at.eq(diesel::dsl::now),
            idempotency_keys::locked_at.eq(sql::<Timestamptz>("clock_timestamp()").nullable()),
        ))
        .returning(idempotency_keys::locked_at)
        .get_result(conn)
        .await?;
    token.ok_or_else(|| StoreError::Corrupt(format!("idempotency key {key:?} lost its lock")))
}

/// Sets a fresh lock and returns it as the owner's token. `clock_timestamp()`, not `now()`:
/// two takeovers in one transaction snapshot must still get different tokens.
async fn lock(conn: &mut AsyncPgConnection, key: &str) -> Result<DateTime<Utc>, StoreError> {
    let token: Option<DateTime<Utc>> = diesel::update(idempotency_keys::table.find(key))
        .set(idempotency_keys::locked_at.eq(sql::<Timestamptz>("clock_timestamp()").nullable()))
        .returning(idempotency_keys::locked_at)
        .get_result(conn)
        .await?;
    token.ok_or_else(|| StoreError::Corrupt(format!("idempotency key {key:?} lost its lock")))
}

/// Stores the response of the request that owns `token`. Returns `false`, storing nothing,
/// when the key is no longer held with that token (taken over after going stale): the caller
/// must then roll back whatever it did in the same transaction. Shared, so that it can be
/// pipelined with the request's other writes.
pub async fn complete(
    conn: &AsyncPgConnection,
    key: &str,
    token: DateTime<Utc>,
    status: u16,
    body: &[u8],
    session_id: Option<Uuid>,
) -> Result<bool, StoreError> {
    let status = i16::try_from(status)
        .map_err(|_| StoreError::Corrupt(format!("HTTP status {status} out of range")))?;
    let updated = prepared(
        "UPDATE idempotency_keys
         SET response_status = $3, response_body = $4, locked_at = NULL, session_id = $5
         WHERE key = $1 AND locked_at = $2 AND response_status IS NULL",
    )
    .bind::<Text, _>(key)
    .bind::<Timestamptz, _>(token)
    .bind::<SmallInt, _>(status)
    .bind::<Bytea, _>(body)
    .bind::<Nullable<diesel::sql_types::Uuid>, _>(session_id)
    .execute(&mut &*conn)
    .await?;
    Ok(updated == 1)
}

/// Gives the key up without a result (validation failure, server error), so a retry runs
/// again. Does nothing when another request took the key over.
pub async fn release(
    conn: &mut AsyncPgConnection,
    key: &str,
    token: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let deleted = diesel::delete(
        idempotency_keys::table
            .find(key)
            .filter(idempotency_keys::locked_at.eq(token))
            .filter(idempotency_keys::response_status.is_null()),
    )
    .execute(conn)
    .await?;
    Ok(deleted == 1)
}

/// The stored entry, for inspection and tests.
pub async fn find(
    conn: &mut AsyncPgConnection,
    key: &str,
) -> Result<Option<IdempotencyKeyRow>, StoreError> {
    Ok(idempotency_keys::table
        .find(key)
        .select(IdempotencyKeyRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Deletes keys created more than `ttl` ago (by the database clock); returns how many.
/// A key still locked that long ago belongs to a request that is long dead.
pub async fn prune_older_than(
    conn: &mut AsyncPgConnection,
    ttl: Duration,
) -> Result<usize, StoreError> {
    Ok(
        diesel::sql_query("DELETE FROM idempotency_keys WHERE created_at < now() - $1")
            .bind::<Interval, _>(interval(ttl))
            .execute(conn)
            .await?,
    )
}
