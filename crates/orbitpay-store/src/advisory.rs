//! Session-level advisory locks, used by the daemon to elect one ingesting instance per
//! account. They are an efficiency measure only: they vanish with their connection and
//! survive ROLLBACK, so correctness never rests on them (row locks and unique constraints do).
//!
//! Take them on a dedicated connection, never a pooled one: a pooled connection returns to the
//! pool still holding the lock, and the next borrower inherits it.

use diesel::sql_types::{BigInt, Bool};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::StoreError;

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// `pg_try_advisory_lock(key)`: true when this session now holds the lock (session locks are
/// re-entrant: taking it twice needs two unlocks).
pub async fn try_lock(conn: &mut AsyncPgConnection, key: i64) -> Result<bool, StoreError> {
    let row: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
        .bind::<BigInt, _>(key)
        .get_result(conn)
        .await?;
    Ok(row.locked)
}

/// `pg_advisory_unlock(key)`: false when this session did not hold it.
pub async fn unlock(conn: &mut AsyncPgConnection, key: i64) -> Result<bool, StoreError> {
    let row: Locked = diesel::sql_query("SELECT pg_advisory_unlock($1) AS locked")
        .bind::<BigInt, _>(key)
        .get_result(conn)
        .await?;
    Ok(row.locked)
}

/// Whether any session currently holds the advisory lock `key` (for status and tests).
pub async fn is_held(conn: &mut AsyncPgConnection, key: i64) -> Result<bool, StoreError> {
    // Single-key (bigint) advisory locks appear in pg_locks as classid = high 32 bits,
    // objid = low 32 bits, objsubid = 1.
    let row: Locked = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND objsubid = 1 \
         AND classid::bigint = (($1 >> 32) & 4294967295) \
         AND objid::bigint = ($1 & 4294967295)) AS locked",
    )
    .bind::<BigInt, _>(key)
    .get_result(conn)
    .await?;
    Ok(row.locked)
}
