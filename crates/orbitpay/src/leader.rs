//! One ingesting instance per account: a session advisory lock on a dedicated connection.
//!
//! Every instance runs a [`lead_account`] loop per watched account. The loop opens its own
//! connection (never a pooled one), tries `pg_try_advisory_lock(lock_key(account))` every
//! `ingest.leader_retry`, and while it holds the lock runs the account's ingestion. While
//! leading, it pings the lock connection (`SELECT 1`) every `leader_retry`: when the connection
//! dies, the lock is gone (another instance may take it), so ingestion is cancelled at once and
//! the loop goes back to trying.
//!
//! The lock outlives no frozen or dead leader for long: the lock connection is bounded
//! server-side ([`orbitpay_store::advisory::bound_session`], [`LOCK_SILENCE_FACTOR`] ×
//! `leader_retry`), so PostgreSQL ends the session of a SIGSTOPped process or a dead host and a
//! standby takes over; the old leader, once it runs again, finds its ping failing and stands
//! down. A halted account gives up its lead after `ingest.halted_release_after`.
//!
//! The lock is for efficiency only: two instances ingesting one account at once (a network
//! partition, a ping not yet failed) still credit exactly once, because correctness rests on row
//! locks, state checks inside each transaction and unique constraints.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orbitpay_core::{AccountId, Backoff, Jitter};
use orbitpay_store::{AsyncPgConnection, SessionSettings};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::{Secret, StartCursor};
use crate::status::{Role, StatusBoard};

/// Ingestion of one account, run only while this instance leads it. The real one is
/// [`crate::ingest::LedgerIngest`]; tests substitute their own.
#[async_trait]
pub trait AccountIngest: Send + Sync + 'static {
    /// Returns `Ok` when `shutdown` fires or the account halts (see the status board for which),
    /// `Err` on a failure worth retrying after a backoff.
    async fn run(
        &self,
        account: AccountId,
        start: StartCursor,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()>;
}

/// The advisory lock key of an account's ingestion: FNV-1a 64 of a fixed prefix and the strkey,
/// stable across builds and platforms (every instance must compute the same key).
pub fn lock_key(account: &AccountId) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in b"orbitpay/ingest/"
        .iter()
        .chain(account.to_string().as_bytes())
    {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash as i64
}

/// A lock connection silent for this many `leader_retry` periods is ended by PostgreSQL; the
/// leader pings every period, well inside it.
pub const LOCK_SILENCE_FACTOR: u32 = 4;

#[derive(Clone)]
pub struct LeaderSettings {
    pub database_url: Secret,
    pub session: SessionSettings,
    /// Lock attempt and lock-connection ping interval.
    pub retry: Duration,
    /// Bound on connecting and on each ping.
    pub connect_timeout: Duration,
    /// Bound on waiting for ingestion to stop after the lock was lost.
    pub stop_grace: Duration,
    /// A halted account's lead is released after this long.
    pub halted_release_after: Duration,
}

enum Led {
    /// Shutdown while leading.
    Shutdown,
    /// The lock connection died: someone else may lead now.
    LostLock,
    /// Ingestion failed; retry after a backoff.
    Failed,
    /// Ingestion halted and the lead was given up after `halted_release_after`.
    ReleasedHalted,
}

/// Competes for `account` until `shutdown`; ingests it whenever this instance wins.
pub async fn lead_account(
    settings: LeaderSettings,
    account: AccountId,
    start: StartCursor,
    ingest: Arc<dyn AccountIngest>,
    board: Arc<StatusBoard>,
    shutdown: CancellationToken,
) {
    let span = tracing::info_span!("leader", account = %account);
    async move {
        let key = lock_key(&account);
        let mut failures: u32 = 0;
        while !shutdown.is_cancelled() {
            board.set_role(account, Role::Standby);
            let Some(mut conn) = acquire(&settings, key, &shutdown).await else {
                break;
            };
            tracing::info!(lock_key = key, "leading ingestion of the account");
            metrics::counter!("orbitpay_leadership_changes_total", "account" => account.to_string(), "change" => "acquired").increment(1);
            board.set_role(account, Role::Leading);
            let began = tokio::time::Instant::now();
            let led = lead(&settings, &mut conn, account, start, &ingest, &board, &shutdown).await;
            if began.elapsed() > Duration::from_secs(60) {
                // A long healthy term: the next failure starts the backoff afresh.
                failures = 0;
            }
            match led {
                Led::Shutdown => {
                    // Explicit unlock so a standby takes over without waiting for the
                    // connection to close; closing it would release it anyway.
                    let _ = tokio::time::timeout(
                        settings.connect_timeout,
                        orbitpay_store::advisory::unlock(&mut conn, key),
                    )
                    .await;
                    break;
                }
                Led::LostLock => {
                    metrics::counter!("orbitpay_leadership_changes_total", "account" => account.to_string(), "change" => "lost").increment(1);
                    drop(conn);
                    // Step back for two retry periods: a standby (polling every period) takes
                    // the account instead of it flapping back to the instance whose connection
                    // just failed. With no standby we take it back right after.
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(settings.retry * 2) => {}
                    }
                }
                Led::ReleasedHalted => {
                    let _ = tokio::time::timeout(
                        settings.connect_timeout,
                        orbitpay_store::advisory::unlock(&mut conn, key),
                    )
                    .await;
                    drop(conn);
                    metrics::counter!("orbitpay_leadership_changes_total", "account" => account.to_string(), "change" => "released_halted").increment(1);
                    // Step back as after a lost lock: a standby takes the account and tries the
                    // record; alone, this instance retakes it and tries again.
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(settings.retry * 2) => {}
                    }
                }
                Led::Failed => {
                    let _ = tokio::time::timeout(
                        settings.connect_timeout,
                        orbitpay_store::advisory::unlock(&mut conn, key),
                    )
                    .await;
                    metrics::counter!("orbitpay_leadership_changes_total", "account" => account.to_string(), "change" => "released").increment(1);
                    failures = failures.saturating_add(1);
                    let backoff =
                        Backoff::new(settings.retry, Duration::from_secs(60), Jitter::Full)
                            .delay(failures)
                            .max(settings.retry);
                    drop(conn);
                    board.set_role(account, Role::Standby);
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                }
            }
        }
        board.set_role(account, Role::Stopped);
    }
    .instrument(span)
    .await
}

/// Connects and tries the lock every `retry` until it is ours; `None` on shutdown.
async fn acquire(
    settings: &LeaderSettings,
    key: i64,
    shutdown: &CancellationToken,
) -> Option<AsyncPgConnection> {
    let mut logged_standby = false;
    loop {
        let connected = tokio::time::timeout(
            settings.connect_timeout,
            orbitpay_store::establish(settings.database_url.expose(), &settings.session),
        )
        .await;
        match connected {
            Ok(Ok(mut conn)) => {
                let silence = settings.retry * LOCK_SILENCE_FACTOR;
                match tokio::time::timeout(
                    settings.connect_timeout,
                    orbitpay_store::advisory::bound_session(&mut conn, silence),
                )
                .await
                {
                    Ok(Ok(true)) => {}
                    Ok(Ok(false)) => tracing::warn!(
                        "PostgreSQL before 14 has no idle_session_timeout: a frozen leader keeps the lead until it runs again"
                    ),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "cannot bound the leadership connection; reconnecting");
                        tokio::select! {
                            _ = shutdown.cancelled() => return None,
                            _ = tokio::time::sleep(settings.retry) => {}
                        }
                        continue;
                    }
                    Err(_) => {
                        tracing::warn!(
                            "bounding the leadership connection timed out; reconnecting"
                        );
                        continue;
                    }
                }
                loop {
                    let tried = tokio::time::timeout(
                        settings.connect_timeout,
                        orbitpay_store::advisory::try_lock(&mut conn, key),
                    )
                    .await;
                    match tried {
                        Ok(Ok(true)) => return Some(conn),
                        Ok(Ok(false)) => {
                            if !logged_standby {
                                tracing::info!("another instance leads the account; standing by");
                                logged_standby = true;
                            }
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "advisory lock attempt failed; reconnecting");
                            break;
                        }
                        Err(_) => {
                            tracing::warn!("advisory lock attempt timed out; reconnecting");
                            break;
                        }
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(settings.retry) => {}
                    }
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot open the leadership connection"),
            Err(_) => tracing::warn!("opening the leadership connection timed out"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(settings.retry) => {}
        }
    }
}

async fn lead(
    settings: &LeaderSettings,
    conn: &mut AsyncPgConnection,
    account: AccountId,
    start: StartCursor,
    ingest: &Arc<dyn AccountIngest>,
    board: &Arc<StatusBoard>,
    shutdown: &CancellationToken,
) -> Led {
    let stop = shutdown.child_token();
    let mut task = {
        let ingest = ingest.clone();
        let stop = stop.clone();
        tokio::spawn(async move { ingest.run(account, start, stop).await })
    };
    let mut tick = tokio::time::interval(settings.retry);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut halted = false;
    let release = tokio::time::sleep(Duration::MAX);
    tokio::pin!(release);
    loop {
        tokio::select! {
            joined = &mut task, if !halted => {
                if shutdown.is_cancelled() {
                    return Led::Shutdown;
                }
                match joined {
                    Ok(Ok(())) => {
                        // Halted: keep the lock (and keep pinging it) for a while so another
                        // instance does not halt on the same record at once, then give it up.
                        tracing::error!(
                            release_after_s = settings.halted_release_after.as_secs(),
                            "ingestion of the account halted; giving up the lead after halted_release_after"
                        );
                        board.set_role(account, Role::Halted { reason: "ingestion halted; see the account's status".into() });
                        halted = true;
                        release.as_mut().reset(tokio::time::Instant::now() + settings.halted_release_after);
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = format!("{e:#}"), "ingestion of the account failed; releasing the lead and retrying");
                        return Led::Failed;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "ingestion task panicked; releasing the lead and retrying");
                        return Led::Failed;
                    }
                }
            }
            _ = shutdown.cancelled(), if halted => return Led::Shutdown,
            () = &mut release, if halted => {
                tracing::warn!("releasing the lead of the halted account so another instance can try");
                return Led::ReleasedHalted;
            }
            _ = tick.tick() => {
                let pinged = tokio::time::timeout(
                    settings.connect_timeout.min(settings.retry.max(Duration::from_millis(500))),
                    orbitpay_store::stats::ping(conn),
                )
                .await;
                let lost = match pinged {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(_) => Some("ping timed out".to_owned()),
                };
                if let Some(reason) = lost {
                    tracing::warn!(%reason, "lost the leadership connection; stopping ingestion of the account");
                    stop.cancel();
                    board.set_role(account, Role::Standby);
                    if !halted && tokio::time::timeout(settings.stop_grace, &mut task).await.is_err() {
                        tracing::error!("ingestion did not stop within the grace period; abandoning it");
                        task.abort();
                    }
                    return Led::LostLock;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        let a: AccountId = "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7"
            .parse()
            .unwrap();
        let b: AccountId = "GCEZWKCA5VLDNRLN3RPRJMRZOX3Z6G5CHCGSNFHEYVXM3XOJMDS674JZ"
            .parse()
            .unwrap();
        assert_ne!(lock_key(&a), lock_key(&b));
        // Pinned: changing the key would let old and new binaries lead the same account.
        assert_eq!(lock_key(&a), 6_140_896_874_545_241_968);
    }
}
