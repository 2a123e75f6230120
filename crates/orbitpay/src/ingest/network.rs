//! Network mode's ingestion while this instance leads the network: ONE follower of the
//! network's payments, routed in memory to the watched accounts, into the matcher's
//! [`RoutedSink`]; and the handover of accounts whose cursor is behind the network's.
//!
//! Handover. An account whose stored cursor is below the network cursor (added with an old
//! `start_cursor`, or still catching up when the daemon stopped) joins the routing set at
//! once, so the network's follower routes everything after what it has already routed, and a
//! follower of its own pages from its cursor until a page comes back empty (catch-up only).
//! Together they cover everything: what both read, the per-account settle's op-id dedupe
//! absorbs. Meanwhile the account is in the [`Handover`] set, so the network never moves its
//! cursor (its own catch-up does); once caught up, it leaves the set and its cursor moves with
//! the network's from the next batch. An account added at runtime always takes this path (one
//! empty page for an account added with "now"): the network may have routed a batch past its
//! start without it.
//!
//! Mode switches across a restart. From per-account mode there is no network cursor: it starts
//! at the lowest account cursor, so no account misses anything. Back to per-account mode, each
//! account's own cursor is true: the network moves it with its own in every batch.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orbitpay_core::AccountId;
use orbitpay_horizon::{
    FollowerExit, FollowerStatus, NetworkSink, Phase, RoutedBatch, SinkError, WatchedSet,
};
use orbitpay_matcher::{Handover, RoutedSink};
use orbitpay_store::cursors;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::LedgerIngest;
use crate::config::StartCursor;
use crate::liveness::Heartbeat;
use crate::status::StatusBoard;

/// The watched accounts as the leader last read them.
pub type Accounts = BTreeMap<AccountId, StartCursor>;

/// How often finished catch-ups are collected.
const REAP: Duration = Duration::from_millis(200);

/// Network mode's ingestion: the per-account pieces (source, matcher, follow settings, board)
/// are [`LedgerIngest`]'s.
pub struct NetworkIngest {
    pub ingest: Arc<LedgerIngest>,
}

/// An account's own catch-up in progress.
struct CatchUp {
    stop: CancellationToken,
    task: JoinHandle<FollowerExit>,
}

struct Routing {
    ingest: Arc<LedgerIngest>,
    watched: watch::Sender<WatchedSet>,
    handover: Handover,
    catch_ups: HashMap<AccountId, CatchUp>,
    network_status: Arc<FollowerStatus>,
    shutdown: CancellationToken,
}

impl NetworkIngest {
    /// Runs until `shutdown` (`Ok`), or until the network's follower halts (`Ok`, the board
    /// says why); `Err` on a failure worth retrying after a backoff.
    pub async fn run(
        &self,
        mut accounts: watch::Receiver<Accounts>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let ing = &self.ingest;
        let initial = accounts.borrow_and_update().clone();
        let (stored, cursors) = {
            let mut conn = ing.pool.get().await?;
            let addresses: Vec<String> = initial.keys().map(AccountId::to_string).collect();
            let cursors: HashMap<String, i64> =
                orbitpay_store::accounts::cursors_of(&mut conn, &addresses)
                    .await?
                    .into_iter()
                    .collect();
            let stored = match cursors::get_network(&mut conn).await? {
                Some(n) => Some(n),
                // From per-account mode: the lowest account cursor, so no account misses
                // anything (what the others read twice, the settle's dedupe absorbs).
                None => match cursors.values().min() {
                    Some(&lowest) => Some(cursors::set_network(&conn, lowest).await?),
                    None => None,
                },
            };
            (stored, cursors)
        };
        let handover: Handover = Arc::default();
        // Also ends the sink's database retries when this term fails.
        let follower_stop = shutdown.child_token();
        let (watched, watched_rx) = watch::channel::<WatchedSet>(Arc::default());
        let sink = ObservedNetworkSink {
            inner: ing
                .matcher
                .routed_sink(handover.clone(), follower_stop.clone()),
            heartbeat: ing.liveness.register("ingest network"),
            board: ing.board.clone(),
        };
        sink.heartbeat.idle();
        let follower = orbitpay_horizon::Follower::network(
            sink,
            watched_rx,
            ing.source.clone(),
            ing.follow.clone(),
            stored,
        );
        let mut routing = Routing {
            ingest: ing.clone(),
            watched,
            handover,
            catch_ups: HashMap::new(),
            network_status: follower.status(),
            shutdown: shutdown.clone(),
        };
        ing.board.attach_network(follower.status());
        tracing::info!(accounts = initial.len(), cursor = ?stored, "following the network's payments");
        for account in initial.keys() {
            let own = cursors.get(&account.to_string()).copied();
            match (own, stored) {
                (Some(own), Some(network)) if own < network => {
                    routing.hand_over(*account, Some(own))
                }
                _ => routing.join(*account),
            }
        }
        let mut follower = tokio::spawn(follower.run(follower_stop.clone()));
        let mut reap = tokio::time::interval(REAP);
        let mut known = initial;
        let exit = loop {
            tokio::select! {
                _ = shutdown.cancelled() => break None,
                exit = &mut follower => break Some(exit.map_err(|e| anyhow::anyhow!("the network's follower panicked: {e}"))),
                changed = accounts.changed() => {
                    if changed.is_err() {
                        break None;
                    }
                    let fresh = accounts.borrow_and_update().clone();
                    if let Err(e) = routing.apply(&known, &fresh).await {
                        break Some(Err(e));
                    }
                    known = fresh;
                }
                _ = reap.tick() => routing.reap().await,
            }
        };
        routing.stop_all().await;
        follower_stop.cancel();
        match exit {
            None => {
                let _ = follower.await;
                Ok(())
            }
            Some(Ok(FollowerExit::Halted(reason))) => {
                tracing::error!(
                    ?reason,
                    "ingestion of the network halted; an operator must act"
                );
                Ok(())
            }
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => {
                if !follower.is_finished() {
                    let _ = follower.await;
                }
                Err(e)
            }
        }
    }
}

impl Routing {
    /// Routes the account from the next batch; its cursor moves with the network's.
    fn join(&mut self, account: AccountId) {
        self.watched.send_modify(|set| {
            Arc::make_mut(set).insert(account);
        });
        self.ingest
            .board
            .attach_follower(account, self.network_status.clone());
    }

    /// Routes the account from the next batch and catches it up on its own from `own`.
    fn hand_over(&mut self, account: AccountId, own: Option<i64>) {
        // In the handover set before the routing set: the network must never move its cursor
        // while its own catch-up is behind.
        write(&self.handover).insert(account);
        self.watched.send_modify(|set| {
            Arc::make_mut(set).insert(account);
        });
        let stop = self.shutdown.child_token();
        let follower = self.ingest.follower(account, own, &stop).catch_up_only();
        self.ingest
            .board
            .attach_follower(account, follower.status());
        tracing::info!(account = %account, cursor = ?own, "catching the account up on its own before the network covers it alone");
        let task = tokio::spawn(follower.run(stop.clone()));
        self.catch_ups.insert(account, CatchUp { stop, task });
    }

    /// Applies the registry's change: removed accounts leave, added ones are handed over.
    async fn apply(&mut self, known: &Accounts, fresh: &Accounts) -> anyhow::Result<()> {
        for account in known.keys().filter(|a| !fresh.contains_key(*a)) {
            tracing::info!(account = %account, "the account is no longer watched; no longer routed");
            self.watched.send_modify(|set| {
                Arc::make_mut(set).remove(account);
            });
            if let Some(c) = self.catch_ups.remove(account) {
                c.stop.cancel();
                let _ = c.task.await;
            }
            write(&self.handover).remove(account);
        }
        let added: Vec<AccountId> = fresh
            .keys()
            .filter(|a| !known.contains_key(*a))
            .copied()
            .collect();
        if added.is_empty() {
            return Ok(());
        }
        // Without its cursor a catch-up would start at "now" and could skip the start asked
        // for: a failure here fails the term, retried whole.
        let addresses: Vec<String> = added.iter().map(AccountId::to_string).collect();
        let mut conn = self.ingest.pool.get().await?;
        let cursors: HashMap<String, i64> =
            orbitpay_store::accounts::cursors_of(&mut conn, &addresses)
                .await?
                .into_iter()
                .collect();
        drop(conn);
        for account in added {
            let own = cursors.get(&account.to_string()).copied();
            self.hand_over(account, own);
        }
        Ok(())
    }

    /// Accounts whose catch-up is done are covered by the network alone from now on.
    async fn reap(&mut self) {
        let done: Vec<AccountId> = self
            .catch_ups
            .iter()
            .filter(|(_, c)| c.task.is_finished())
            .map(|(a, _)| *a)
            .collect();
        for account in done {
            let Some(c) = self.catch_ups.remove(&account) else {
                continue;
            };
            match c.task.await {
                Ok(FollowerExit::CaughtUp) => {
                    tracing::info!(account = %account, "caught up; the network covers the account from now on");
                    write(&self.handover).remove(&account);
                    self.ingest.board.set_catch_up(account, None);
                    self.ingest
                        .board
                        .attach_follower(account, self.network_status.clone());
                }
                // Halted: it stays in handover (its cursor kept), on the board as halted.
                Ok(exit) => {
                    tracing::error!(account = %account, ?exit, "the account's catch-up stopped; it stays behind the network");
                }
                Err(e) => {
                    tracing::error!(account = %account, error = %e, "the account's catch-up panicked; it stays behind the network");
                }
            }
        }
    }

    async fn stop_all(&mut self) {
        for (_, c) in self.catch_ups.drain() {
            c.stop.cancel();
            let _ = c.task.await;
        }
    }
}

fn write(h: &Handover) -> std::sync::RwLockWriteGuard<'_, HashSet<AccountId>> {
    h.write().unwrap_or_else(|e| e.into_inner())
}

/// The matcher's routed sink plus the daemon's bookkeeping (heartbeat, lag).
struct ObservedNetworkSink {
    inner: RoutedSink,
    heartbeat: Heartbeat,
    board: Arc<StatusBoard>,
}

#[async_trait]
impl NetworkSink for ObservedNetworkSink {
    async fn initialise_cursor(&mut self, token: i64) -> Result<(), SinkError> {
        self.heartbeat.beat();
        let result = self.inner.initialise_cursor(token).await;
        self.heartbeat.idle();
        result
    }

    async fn handle_routed(&mut self, batch: &RoutedBatch) -> Result<(), SinkError> {
        self.heartbeat.beat();
        let result = self.inner.handle_routed(batch).await;
        if result.is_ok() {
            let closed_at = batch
                .accounts
                .values()
                .flatten()
                .filter_map(|r| r.as_ref().ok())
                .max_by_key(|r| r.op_id)
                .and_then(|r| r.closed_at);
            let lag = match (closed_at, batch.phase) {
                (Some(t), _) => Some((chrono::Utc::now().timestamp() - t).max(0) as f64),
                (None, Phase::Live) => Some(0.0),
                (None, Phase::CatchUp) => None,
            };
            if let Some(lag) = lag {
                self.board.set_network_lag(lag);
            }
        }
        self.heartbeat.idle();
        result
    }
}
