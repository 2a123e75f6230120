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

/// One connection holding the leadership locks of every account an instance leads, and waking
/// it on changes to the watched accounts (it LISTENs on [`crate::accounts::CHANNEL`]): so an
/// instance uses this one connection for leadership whatever the number of accounts.
///
/// A tokio-postgres client (diesel's connection drops notifications; see [`crate::listen`]),
/// opened like every other connection, bounded server-side like [`bound_session`], and named
/// by `application_name` so instances can count each other ([`LockSession::instances`]).
pub struct LockSession {
    client: tokio_postgres::Client,
    notifications: tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::Notification>,
    application_name: String,
}

fn leadership(e: tokio_postgres::Error) -> StoreError {
    StoreError::Leadership(e.to_string())
}

impl LockSession {
    /// Connects, applies `settings`, names the session `application_name`, bounds it to
    /// `idle` of silence (as [`bound_session`]), and LISTENs for watched-account changes.
    /// `Ok((session, false))` on a server without `idle_session_timeout` (before 14).
    pub async fn open(
        database_url: &str,
        settings: &crate::SessionSettings,
        application_name: &str,
        idle: Duration,
    ) -> Result<(LockSession, bool), StoreError> {
        let (client, notifications) = crate::connect::open_client(database_url).await?;
        let ms = idle.as_millis().max(1);
        let keepalive_secs = (idle.as_secs() / 3).max(1);
        let name = application_name.replace('\'', "''");
        client
            .batch_execute(&format!(
                "{}; SET application_name = '{name}'; SET tcp_user_timeout = {ms}; \
                 SET tcp_keepalives_idle = {keepalive_secs}; \
                 SET tcp_keepalives_interval = {keepalive_secs}; SET tcp_keepalives_count = 3; \
                 LISTEN \"{}\"",
                settings.sql(),
                crate::accounts::CHANNEL
            ))
            .await
            .map_err(leadership)?;
        let version: i32 = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .map_err(leadership)?
            .get(0);
        let bounded = version >= 140_000;
        if bounded {
            client
                .batch_execute(&format!("SET idle_session_timeout = {ms}"))
                .await
                .map_err(leadership)?;
        }
        Ok((
            LockSession {
                client,
                notifications,
                application_name: application_name.to_owned(),
            },
            bounded,
        ))
    }

    /// `pg_try_advisory_lock` on each of `keys`, in one statement; the keys now held. Keys this
    /// session already holds must not be passed (session locks are re-entrant).
    pub async fn try_lock_many(&self, keys: &[i64]) -> Result<Vec<i64>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query(
                "SELECT k FROM unnest($1::bigint[]) AS k WHERE pg_try_advisory_lock(k)",
                &[&keys],
            )
            .await
            .map_err(leadership)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// `pg_advisory_unlock` on each of `keys`, in one statement.
    pub async fn unlock_many(&self, keys: &[i64]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.client
            .query(
                "SELECT pg_advisory_unlock(k) FROM unnest($1::bigint[]) AS k",
                &[&keys],
            )
            .await
            .map_err(leadership)?;
        Ok(())
    }

    /// The instances sharing the work: sessions of this database with this session's
    /// `application_name` (this one included). Doubles as the ping: an error means the
    /// connection, and its locks, may be gone.
    pub async fn instances(&self) -> Result<i64, StoreError> {
        let row = self
            .client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name = $1",
                &[&self.application_name],
            )
            .await
            .map_err(leadership)?;
        Ok(row.get(0))
    }

    /// The next change to the watched accounts; `None` once the connection is lost.
    /// Cancel-safe.
    pub async fn changed(&mut self) -> Option<String> {
        self.notifications
            .recv()
            .await
            .map(|n| n.payload().to_owned())
    }
}
