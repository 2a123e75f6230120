//! One ingesting instance per account, on one leadership connection per instance.
//!
//! Every instance runs one [`lead_accounts`] loop. It opens one connection of its own (never a
//! pooled one; [`orbitpay_store::advisory::LockSession`]) and holds on it a session advisory
//! lock per account it leads (`pg_try_advisory_lock(lock_key(account))`, many in one
//! statement), so an instance uses the pool plus this one connection whatever the number of
//! accounts. Every `min(leader_retry, 500 ms)`, and at once when the `watched_accounts` table
//! announces a change (NOTIFY on the same connection), it re-reads the watched accounts from the
//! table, stops ingesting the removed ones, counts the live instances (the leadership sessions
//! in `pg_stat_activity`, by `application_name`; the count is the connection's ping too), and
//! takes at most its fair share, `ceil(accounts / instances)`: it releases what it holds beyond
//! that (an instance that started alone hands half to the one that joins) and tries the locks of
//! accounts nobody leads while under it. An account's ingestion runs while its lock is held.
//!
//! The locks outlive no frozen or dead leader for long: the connection is bounded server-side
//! (as [`orbitpay_store::advisory::bound_session`], [`LOCK_SILENCE_FACTOR`] × `leader_retry`),
//! so PostgreSQL ends the session of a SIGSTOPped process or a dead host and the others take
//! its accounts (a dead instance's session leaves `pg_stat_activity` with it, so the fair share
//! grows to cover them); the old leader, once it runs again, finds its ping failing and stands
//! down. When the connection dies every ingestion of the instance is cancelled at once. A halted
//! account gives up its lead after `ingest.halted_release_after`; a failed one after a backoff.
//!
//! The lock is for efficiency only: two instances ingesting one account at once (a network
//! partition, a ping not yet failed) still credit exactly once, because correctness rests on row
//! locks, state checks inside each transaction and unique constraints.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orbitpay_core::{AccountId, Backoff, Jitter};
use orbitpay_store::advisory::LockSession;
use orbitpay_store::{DbPool, SessionSettings};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

mod network;

pub use network::lead_network;

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
    fnv_key(account.to_string().as_bytes())
}

/// The advisory lock key of the network's follower (network mode): the same hash over
/// `network`, which no strkey can be.
pub fn network_lock_key() -> i64 {
    fnv_key(orbitpay_store::cursors::NETWORK.as_bytes())
}

fn fnv_key(name: &[u8]) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in b"orbitpay/ingest/".iter().chain(name) {
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

/// The `application_name` of every instance's leadership connection: how instances count
/// each other.
pub const APPLICATION_NAME: &str = "orbitpay-leadership";

/// The watched accounts are re-read at least this often (a missed NOTIFY costs no more).
const REREAD: Duration = Duration::from_millis(500);

/// One account this instance leads: its lock is held on the leadership connection.
struct Term {
    key: i64,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// When ingestion halted (the lock is kept for `halted_release_after`, pinged meanwhile).
    halted_at: Option<tokio::time::Instant>,
}

enum SessionEnd {
    Shutdown,
    /// The connection died or stopped answering: its locks are gone.
    Lost,
}

/// Leads this instance's share of the watched accounts until `shutdown`.
pub async fn lead_accounts(
    settings: LeaderSettings,
    pool: DbPool,
    ingest: Arc<dyn AccountIngest>,
    board: Arc<StatusBoard>,
    shutdown: CancellationToken,
) {
    let mut leader = Leader {
        settings,
        pool,
        ingest,
        board,
        known: BTreeMap::new(),
        held: BTreeMap::new(),
        not_before: HashMap::new(),
        failures: HashMap::new(),
    };
    while !shutdown.is_cancelled() {
        let Some(mut session) = leader.connect(&shutdown).await else {
            break;
        };
        match leader.run(&mut session, &shutdown).await {
            SessionEnd::Shutdown => {
                // Explicit unlocks so the others take over without waiting for the connection to
                // close (closing it would release them anyway).
                let keys = leader.stop_all().await;
                let _ = tokio::time::timeout(
                    leader.settings.connect_timeout,
                    session.unlock_many(&keys),
                )
                .await;
                break;
            }
            SessionEnd::Lost => {
                leader.stop_all().await;
                drop(session);
                metrics::counter!("orbitpay_leadership_changes_total", "change" => "lost")
                    .increment(1);
                // Step back for two retry periods: a standby (polling every period) takes the
                // accounts instead of them flapping back to the instance whose connection just
                // failed. With no standby we take them back right after.
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(leader.settings.retry * 2) => {}
                }
            }
        }
    }
    for account in leader.known.keys() {
        leader.board.set_role(*account, Role::Stopped);
    }
}

struct Leader {
    settings: LeaderSettings,
    pool: DbPool,
    ingest: Arc<dyn AccountIngest>,
    board: Arc<StatusBoard>,
    /// The watched accounts as last read, with where each starts.
    known: BTreeMap<AccountId, StartCursor>,
    held: BTreeMap<AccountId, Term>,
    /// Not retaken before: after a release for a halt, a failure or the fair share.
    not_before: HashMap<AccountId, tokio::time::Instant>,
    failures: HashMap<AccountId, u32>,
}

impl Leader {
    async fn connect(&self, shutdown: &CancellationToken) -> Option<LockSession> {
        connect(&self.settings, shutdown).await
    }

    async fn run(&mut self, session: &mut LockSession, shutdown: &CancellationToken) -> SessionEnd {
        let mut tick = tokio::time::interval(REREAD.min(self.settings.retry));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let bound = self
            .settings
            .connect_timeout
            .min(self.settings.retry.max(Duration::from_millis(500)));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return SessionEnd::Shutdown,
                changed = session.changed() => {
                    if changed.is_none() {
                        tracing::warn!("lost the leadership connection; stopping ingestion of every account led");
                        return SessionEnd::Lost;
                    }
                }
                _ = tick.tick() => {}
            }
            self.reread().await;
            if let Err(reason) = self.round(session, bound).await {
                tracing::warn!(%reason, "lost the leadership connection; stopping ingestion of every account led");
                return SessionEnd::Lost;
            }
        }
    }

    /// The watched accounts from the table; on a failure the last list stands.
    async fn reread(&mut self) {
        let read = async {
            let mut conn = self.pool.get().await?;
            crate::accounts::watched(&mut conn).await
        };
        match read.await {
            Ok(accounts) => {
                let fresh: BTreeMap<AccountId, StartCursor> = accounts.into_iter().collect();
                for account in fresh.keys() {
                    if !self.known.contains_key(account) {
                        self.board.set_role(*account, Role::Standby);
                    }
                }
                for account in self.known.keys() {
                    if !fresh.contains_key(account) && !self.held.contains_key(account) {
                        self.board.forget(account);
                    }
                }
                self.known = fresh;
            }
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "cannot read the watched accounts; keeping the last list"
                )
            }
        }
    }

    /// One round on a live connection; `Err` when the connection failed.
    async fn round(&mut self, session: &LockSession, bound: Duration) -> Result<(), String> {
        let now = tokio::time::Instant::now();
        let mut release: Vec<AccountId> = Vec::new();
        let mut failed: Vec<AccountId> = Vec::new();
        // Ingestions that ended, halted ones past their time, removed accounts.
        for (account, term) in self.held.iter_mut() {
            if !self.known.contains_key(account) {
                tracing::info!(account = %account, "the account is no longer watched; stopping its ingestion");
                release.push(*account);
                continue;
            }
            if let Some(at) = term.halted_at {
                if now.duration_since(at) >= self.settings.halted_release_after {
                    tracing::warn!(account = %account, "releasing the lead of the halted account so another instance can try");
                    metrics::counter!("orbitpay_leadership_changes_total", "change" => "released_halted").increment(1);
                    self.not_before
                        .insert(*account, now + self.settings.retry * 2);
                    release.push(*account);
                }
                continue;
            }
            if !term.task.is_finished() {
                continue;
            }
            match (&mut term.task).await {
                Ok(Ok(())) => {
                    tracing::error!(
                        account = %account,
                        release_after_s = self.settings.halted_release_after.as_secs(),
                        "ingestion of the account halted; giving up the lead after halted_release_after"
                    );
                    self.board.set_role(
                        *account,
                        Role::Halted {
                            reason: "ingestion halted; see the account's status".into(),
                        },
                    );
                    term.halted_at = Some(now);
                }
                Ok(Err(e)) => {
                    tracing::error!(account = %account, error = format!("{e:#}"), "ingestion of the account failed; releasing the lead and retrying");
                    failed.push(*account);
                }
                Err(e) => {
                    tracing::error!(account = %account, error = %e, "ingestion task panicked; releasing the lead and retrying");
                    failed.push(*account);
                }
            }
        }
        for account in &failed {
            self.back_off(*account, now);
        }
        release.extend(failed);
        self.release(session, &release, bound).await?;
        for account in &release {
            if !self.known.contains_key(account) {
                self.board.forget(account);
            }
        }

        // The fair share: whatever is above it goes back, whatever is below it is tried.
        let instances = timed(bound, session.instances()).await?.max(1) as usize;
        let fair = self.known.len().div_ceil(instances);
        if self.held.len() > fair {
            let excess: Vec<AccountId> = self
                .held
                .keys()
                .rev()
                .take(self.held.len() - fair)
                .copied()
                .collect();
            tracing::info!(
                released = excess.len(),
                instances,
                fair_share = fair,
                "releasing accounts above this instance's fair share"
            );
            for account in &excess {
                self.not_before
                    .insert(*account, now + self.settings.retry * 2);
            }
            self.release(session, &excess, bound).await?;
        } else if self.held.len() < fair {
            let need = fair - self.held.len();
            let candidates: Vec<(AccountId, i64)> = self
                .known
                .keys()
                .filter(|a| !self.held.contains_key(*a))
                .filter(|a| self.not_before.get(*a).is_none_or(|t| *t <= now))
                .map(|a| (*a, lock_key(a)))
                .collect();
            let keys: Vec<i64> = candidates.iter().map(|(_, k)| *k).collect();
            let mut won = timed(bound, session.try_lock_many(&keys)).await?;
            if won.len() > need {
                let extra = won.split_off(need);
                timed(bound, session.unlock_many(&extra)).await?;
            }
            let by_key: HashMap<i64, AccountId> =
                candidates.into_iter().map(|(a, k)| (k, a)).collect();
            for key in won {
                if let Some(account) = by_key.get(&key) {
                    self.start(*account, key);
                }
            }
        }
        // Accounts we did not win stay on standby; those back from a release too.
        for account in self.known.keys() {
            if !self.held.contains_key(account)
                && !matches!(self.board.role(account), Some(Role::Standby))
            {
                self.board.set_role(*account, Role::Standby);
            }
        }
        Ok(())
    }

    fn back_off(&mut self, account: AccountId, now: tokio::time::Instant) {
        metrics::counter!("orbitpay_leadership_changes_total", "change" => "released").increment(1);
        let failures = self.failures.entry(account).or_default();
        *failures = failures.saturating_add(1);
        let backoff = Backoff::new(self.settings.retry, Duration::from_secs(60), Jitter::Full)
            .delay(*failures)
            .max(self.settings.retry);
        self.not_before.insert(account, now + backoff);
    }

    fn start(&mut self, account: AccountId, key: i64) {
        tracing::info!(account = %account, lock_key = key, "leading ingestion of the account");
        metrics::counter!("orbitpay_leadership_changes_total", "change" => "acquired").increment(1);
        self.board.set_role(account, Role::Leading);
        let start = self
            .known
            .get(&account)
            .copied()
            .unwrap_or(StartCursor::Now);
        let stop = CancellationToken::new();
        let task = {
            let (ingest, stop) = (self.ingest.clone(), stop.clone());
            let span = tracing::info_span!("leader", account = %account);
            tokio::spawn(async move { ingest.run(account, start, stop).await }.instrument(span))
        };
        self.held.insert(
            account,
            Term {
                key,
                stop,
                task,
                halted_at: None,
            },
        );
    }

    /// Stops the ingestion of `accounts` (all at once, each within `stop_grace`), then
    /// unlocks them in one statement.
    async fn release(
        &mut self,
        session: &LockSession,
        accounts: &[AccountId],
        bound: Duration,
    ) -> Result<(), String> {
        let terms: Vec<(AccountId, Term)> = accounts
            .iter()
            .filter_map(|a| self.held.remove(a).map(|t| (*a, t)))
            .collect();
        if terms.is_empty() {
            return Ok(());
        }
        let keys = self.stop_terms(terms).await;
        timed(bound, session.unlock_many(&keys)).await
    }

    /// Stops every ingestion (the connection is gone, or shutdown); the keys they held.
    async fn stop_all(&mut self) -> Vec<i64> {
        let terms: Vec<(AccountId, Term)> = std::mem::take(&mut self.held).into_iter().collect();
        self.stop_terms(terms).await
    }

    async fn stop_terms(&self, terms: Vec<(AccountId, Term)>) -> Vec<i64> {
        for (_, term) in &terms {
            term.stop.cancel();
        }
        let grace = self.settings.stop_grace;
        let keys = terms.iter().map(|(_, t)| t.key).collect();
        futures::future::join_all(terms.into_iter().map(|(account, mut term)| {
            let board = self.board.clone();
            async move {
                if term.halted_at.is_none()
                    && !term.task.is_finished()
                    && tokio::time::timeout(grace, &mut term.task).await.is_err()
                {
                    tracing::error!(account = %account, "ingestion did not stop within the grace period; abandoning it");
                    term.task.abort();
                }
                board.set_role(account, Role::Standby);
            }
        }))
        .await;
        keys
    }
}

/// Opens the leadership connection, retrying every `retry`; `None` on shutdown.
pub(crate) async fn connect(
    settings: &LeaderSettings,
    shutdown: &CancellationToken,
) -> Option<LockSession> {
    loop {
        let opened = tokio::time::timeout(
            settings.connect_timeout,
            LockSession::open(
                settings.database_url.expose(),
                &settings.session,
                APPLICATION_NAME,
                settings.retry * LOCK_SILENCE_FACTOR,
            ),
        )
        .await;
        match opened {
            Ok(Ok((session, bounded))) => {
                if !bounded {
                    tracing::warn!(
                        "PostgreSQL before 14 has no idle_session_timeout: a frozen leader keeps the lead until it runs again"
                    );
                }
                return Some(session);
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

/// A statement on the leadership connection, bounded: a silent connection is a lost one.
pub(crate) async fn timed<T>(
    bound: Duration,
    call: impl std::future::Future<Output = Result<T, orbitpay_store::StoreError>>,
) -> Result<T, String> {
    match tokio::time::timeout(bound, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the leadership connection did not answer in time".to_owned()),
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
