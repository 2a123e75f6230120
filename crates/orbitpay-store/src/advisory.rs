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
