//! Session-level advisory locks, used by the daemon to elect one ingesting instance per
//! account. They are an efficiency measure only: they vanish with their connection and
//! survive ROLLBACK, so correctness never rests on them (row locks and unique constraints do).
//!
//! Take them on a dedicated connection, never a pooled one: a pooled connection returns to the
//! pool still holding the lock, and the next borrower inherits it.

use diesel::sql_types::{BigInt, Bool};
use std::time::Duration;

use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection as _};

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

/// Bounds, server-side, how long a lock outlives a client that stops answering: PostgreSQL ends
/// the session (and so releases its locks) after `idle` without a statement
/// (`idle_session_timeout`: a frozen or SIGSTOPped holder), and after `idle` of unacknowledged
/// data or failed keepalives (`tcp_user_timeout`, TCP keepalives: a dead host), instead of the
/// ~2 hours Linux's TCP takes to give up. The holder must ping well inside `idle`.
///
/// `idle_session_timeout` is PostgreSQL 14+; on older servers `Ok(false)` says the frozen-holder
/// bound is missing (the dead-host bound still applies).
pub async fn bound_session(
    conn: &mut AsyncPgConnection,
    idle: Duration,
) -> Result<bool, StoreError> {
    let ms = idle.as_millis().max(1);
    let keepalive_secs = (idle.as_secs() / 3).max(1);
    conn.batch_execute(&format!(
        "SET tcp_user_timeout = {ms}; SET tcp_keepalives_idle = {keepalive_secs}; \
         SET tcp_keepalives_interval = {keepalive_secs}; SET tcp_keepalives_count = 3"
    ))
    .await?;
    #[derive(diesel::QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        version: i32,
    }
    let server: Version =
        diesel::sql_query("SELECT current_setting('server_version_num')::int AS version")
            .get_result(conn)
            .await?;
    if server.version < 140_000 {
        return Ok(false);
    }
    conn.batch_execute(&format!("SET idle_session_timeout = {ms}"))
        .await?;
    Ok(true)
}
