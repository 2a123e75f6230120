//! Network mode's leadership: ONE instance follows the network, the one holding the advisory
//! lock [`network_lock_key`] on its leadership connection (the same [`LockSession`] as
//! per-account mode: one connection per instance, pinged every round, bounded server-side);
//! the others stand by and try the lock every round. The leader re-reads the watched accounts
//! every round and at once on the table's NOTIFY, and hands them to the network ingestion,
//! which routes to them.

use std::sync::Arc;
use std::time::Duration;

use orbitpay_core::{Backoff, Jitter};
use orbitpay_store::DbPool;
use orbitpay_store::advisory::LockSession;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::{LeaderSettings, REREAD, connect, network_lock_key, timed};
use crate::ingest::{Accounts, NetworkIngest};
use crate::status::{Role, StatusBoard};

/// The network's ingestion while this instance leads it.
struct Term {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    halted_at: Option<tokio::time::Instant>,
}

/// Leads the network's ingestion whenever this instance holds its lock, until `shutdown`.
pub async fn lead_network(
    settings: LeaderSettings,
    pool: DbPool,
    ingest: Arc<NetworkIngest>,
    board: Arc<StatusBoard>,
    shutdown: CancellationToken,
) {
    let (accounts, _) = watch::channel(Accounts::new());
    let mut leader = NetworkLeader {
        settings,
        pool,
        ingest,
        board,
        accounts,
        term: None,
        not_before: tokio::time::Instant::now(),
        failures: 0,
    };
    while !shutdown.is_cancelled() {
        let Some(mut session) = connect(&leader.settings, &shutdown).await else {
            break;
        };
        let lost = leader.run(&mut session, &shutdown).await;
        let held = leader.stop().await;
        if !lost {
            if held {
                let _ = tokio::time::timeout(
                    leader.settings.connect_timeout,
                    session.unlock_many(&[network_lock_key()]),
                )
                .await;
            }
            break;
        }
        drop(session);
        metrics::counter!("orbitpay_leadership_changes_total", "change" => "lost").increment(1);
        // As per account: step back so a standby takes the network instead of it flapping.
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(leader.settings.retry * 2) => {}
        }
    }
    leader.set_roles(Role::Stopped);
}

struct NetworkLeader {
    settings: LeaderSettings,
    pool: DbPool,
    ingest: Arc<NetworkIngest>,
    board: Arc<StatusBoard>,
    accounts: watch::Sender<Accounts>,
    term: Option<Term>,
    not_before: tokio::time::Instant,
    failures: u32,
}

impl NetworkLeader {
    /// Rounds on a live connection; `true` when it was lost, `false` at shutdown.
    async fn run(&mut self, session: &mut LockSession, shutdown: &CancellationToken) -> bool {
        let mut tick = tokio::time::interval(REREAD.min(self.settings.retry));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let bound = self
            .settings
            .connect_timeout
            .min(self.settings.retry.max(Duration::from_millis(500)));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                changed = session.changed() => {
                    if changed.is_none() {
                        tracing::warn!("lost the leadership connection; stopping ingestion of the network");
                        return true;
                    }
                }
                _ = tick.tick() => {}
            }
            self.reread().await;
            if let Err(reason) = self.round(session, bound).await {
                tracing::warn!(%reason, "lost the leadership connection; stopping ingestion of the network");
                return true;
            }
        }
    }

    /// The watched accounts from the table, handed to the ingestion when they changed; on a
    /// failure the last list stands.
    async fn reread(&mut self) {
        let read = async {
            let mut conn = self.pool.get().await?;
            crate::accounts::watched(&mut conn).await
        };
        match read.await {
            Ok(list) => {
                let fresh: Accounts = list.into_iter().collect();
                let role = if self.term.is_some() {
                    Role::Leading
                } else {
                    Role::Standby
                };
                for account in self.accounts.borrow().keys() {
                    if !fresh.contains_key(account) {
                        self.board.forget(account);
                    }
                }
                for account in fresh.keys() {
                    if !self.accounts.borrow().contains_key(account) {
                        self.board.set_role(*account, role.clone());
                    }
                }
                self.accounts.send_if_modified(|known| {
                    let changed = *known != fresh;
                    *known = fresh;
                    changed
                });
            }
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "cannot read the watched accounts; keeping the last list"
            ),
        }
    }

    async fn round(&mut self, session: &LockSession, bound: Duration) -> Result<(), String> {
        let now = tokio::time::Instant::now();
        // The ping (and how instances count each other).
        timed(bound, session.instances()).await?;
        let Some(term) = self.term.as_mut() else {
            if now < self.not_before {
                return Ok(());
            }
            let won = timed(bound, session.try_lock_many(&[network_lock_key()])).await?;
            if !won.is_empty() {
                self.start();
            }
            return Ok(());
        };
        if let Some(at) = term.halted_at {
            if now.duration_since(at) >= self.settings.halted_release_after {
                tracing::warn!(
                    "releasing the lead of the halted network so another instance can try"
                );
                metrics::counter!("orbitpay_leadership_changes_total", "change" => "released_halted").increment(1);
                self.not_before = now + self.settings.retry * 2;
                self.stop().await;
                timed(bound, session.unlock_many(&[network_lock_key()])).await?;
            }
            return Ok(());
        }
        if !term.task.is_finished() {
            return Ok(());
        }
        match (&mut term.task).await {
            Ok(Ok(())) => {
                tracing::error!(
                    release_after_s = self.settings.halted_release_after.as_secs(),
                    "ingestion of the network halted; giving up the lead after halted_release_after"
                );
                term.halted_at = Some(now);
                self.set_roles(Role::Halted {
                    reason: "ingestion of the network halted; see /v1/status".into(),
                });
            }
            Ok(Err(e)) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "ingestion of the network failed; releasing the lead and retrying"
                );
                self.back_off(now);
                self.stop().await;
                timed(bound, session.unlock_many(&[network_lock_key()])).await?;
            }
            Err(e) => {
                tracing::error!(error = %e, "ingestion of the network panicked; releasing the lead and retrying");
                self.back_off(now);
                self.stop().await;
                timed(bound, session.unlock_many(&[network_lock_key()])).await?;
            }
        }
        Ok(())
    }

    fn back_off(&mut self, now: tokio::time::Instant) {
        metrics::counter!("orbitpay_leadership_changes_total", "change" => "released").increment(1);
        self.failures = self.failures.saturating_add(1);
        let backoff = Backoff::new(self.settings.retry, Duration::from_secs(60), Jitter::Full)
            .delay(self.failures)
            .max(self.settings.retry);
        self.not_before = now + backoff;
    }

    fn start(&mut self) {
        tracing::info!(
            lock_key = network_lock_key(),
            "leading ingestion of the network"
        );
        metrics::counter!("orbitpay_leadership_changes_total", "change" => "acquired").increment(1);
        self.set_roles(Role::Leading);
        let stop = CancellationToken::new();
        let task = {
            let (ingest, stop, accounts) =
                (self.ingest.clone(), stop.clone(), self.accounts.subscribe());
            let span = tracing::info_span!("leader", account = "network");
            tokio::spawn(async move { ingest.run(accounts, stop).await }.instrument(span))
        };
        self.term = Some(Term {
            stop,
            task,
            halted_at: None,
        });
    }

    /// Stops the ingestion, if any, within `stop_grace`; whether there was one.
    async fn stop(&mut self) -> bool {
        let Some(mut term) = self.term.take() else {
            return false;
        };
        term.stop.cancel();
        if !term.task.is_finished()
            && tokio::time::timeout(self.settings.stop_grace, &mut term.task)
                .await
                .is_err()
        {
            tracing::error!(
                "ingestion of the network did not stop within the grace period; abandoning it"
            );
            term.task.abort();
        }
        self.board.detach_network();
        self.set_roles(Role::Standby);
        true
    }

    fn set_roles(&self, role: Role) {
        for account in self.accounts.borrow().keys() {
            self.board.set_role(*account, role.clone());
        }
    }
}
