//! A follower: catch up by paging, then stream, handing records in order to where they go and
//! resuming only from what was confirmed there.
//!
//! What it follows is its [`Target`]: one account's payments into a [`RecordSink`]
//! ([`AccountTarget`], built by [`Follower::new`]), or the network's payments routed in memory
//! to the watched accounts they pay (`follower/network.rs`, built by [`Follower::network`]).
//! Everything else (catch-up paging, the stream, read-ahead, the stall bound, `Last-Event-ID`
//! resume, re-reads of unreadable records, retention checks) is the same machinery for both.
//!
//! This file holds the follower's state machine and what catch-up and the stream share (the
//! cursor, delivery to the sink, backoff, retention checks); catch-up is `follower/catch_up.rs`,
//! the live loop `follower/live.rs`, the stream's read-ahead `follower/read_ahead.rs` and the
//! re-read bookkeeping `follower/reread.rs`.
//!
//! The invariant everything here serves: the resume point (`cursor`) moves only after the sink
//! says a record (or a batch) is durably handled, and every connection resumes from it. A
//! restart, a reconnect, a stall or a sink failure can therefore repeat nothing the sink
//! confirmed and skip nothing it did not.
//!
//! An unreadable record is first a transient fault: the cursor stays before it and the record
//! is read again from there ([`FollowConfig::unreadable_reads`] times in all). Only then is it
//! handed to the sink, alone, to be stored with the cursor moved past it. The source's own
//! "next" link is never used to move past anything.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orbitpay_core::{AccountId, Backoff, Jitter, toid};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::FollowConfig;
use crate::convert::RecordError;
use crate::source::{FetchedRecord, LedgerSource, Scope, SourceError, now_token};
use crate::status::{FollowerState, FollowerStatus, HaltReason};

mod catch_up;
mod live;
mod network;
mod read_ahead;
mod reread;
pub use network::{NetworkSink, NetworkTarget, RouteCounters, RoutedBatch, WatchedSet, recipients};
use reread::Rereading;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Paging through history: whole pages at once.
    CatchUp,
    /// Following the stream: one record at a time.
    Live,
}

/// Records handed to the sink in one call.
#[derive(Debug)]
pub struct Batch {
    /// In ascending token order. An unreadable record (`Err`) comes alone in its batch, only
    /// after the follower gave up re-reading it, always with a paging token (`up_to`): the
    /// sink stores it durably, in the transaction that moves the cursor past it.
    pub records: Vec<FetchedRecord>,
    /// The resume token that covers the whole batch: once the sink returns `Ok`, the follower
    /// resumes strictly after it. Never below the previous cursor. Persist it in the same
    /// transaction as the records' effects.
    pub up_to: i64,
    pub phase: Phase,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// Try the same batch again after a backoff (a lost connection, a deadlock...).
    #[error("retryable: {0}")]
    Retryable(String),
    /// Stop this account's follower: nothing sensible can be done without an operator.
    #[error("fatal: {0}")]
    Fatal(String),
}

/// Where records go: the matcher, which persists their effects and the cursor together.
///
/// An `async_trait` so the daemon may hold `Box<dyn RecordSink>`. Calls are never cancelled
/// half-way by the follower (a cancelled database transaction costs its connection); shutdown
/// is observed between calls.
#[async_trait]
pub trait RecordSink: Send {
    /// Persist the starting point of an account that had no cursor, before anything is read,
    /// so that a restart resumes here instead of at a later "now".
    async fn initialise_cursor(&mut self, account: &AccountId, token: i64)
    -> Result<(), SinkError>;

    /// Durably handle `batch` and store `batch.up_to` as the account's cursor.
    async fn handle_batch(&mut self, account: &AccountId, batch: &Batch) -> Result<(), SinkError>;
}

/// What a follower follows, and where its batches go. The one thing that differs between an
/// account's follower and the network's; the follower never looks past it.
#[async_trait]
pub trait Target: Send {
    /// Whose payments the follower reads.
    fn scope(&self) -> Scope;

    /// Persist the starting point of a follower that had no cursor (see
    /// [`RecordSink::initialise_cursor`]).
    async fn initialise_cursor(&mut self, token: i64) -> Result<(), SinkError>;

    /// Durably handle `batch` and store `batch.up_to` as the cursor (see
    /// [`RecordSink::handle_batch`]). `Ok` moves the follower past the batch.
    async fn handle_batch(&mut self, batch: &Batch) -> Result<(), SinkError>;
}

/// One account's payments, into the sink that settles them.
pub struct AccountTarget<K> {
    account: AccountId,
    sink: K,
}

#[async_trait]
impl<K: RecordSink> Target for AccountTarget<K> {
    fn scope(&self) -> Scope {
        Scope::Account(self.account)
    }

    async fn initialise_cursor(&mut self, token: i64) -> Result<(), SinkError> {
        self.sink.initialise_cursor(&self.account, token).await
    }

    async fn handle_batch(&mut self, batch: &Batch) -> Result<(), SinkError> {
        self.sink.handle_batch(&self.account, batch).await
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowerExit {
    Cancelled,
    Halted(HaltReason),
    /// A catch-up-only follower ([`Follower::catch_up_only`]) reached the source's end.
    CaughtUp,
}

enum Stop {
    Cancelled,
    Halted(HaltReason),
    CaughtUp,
}

type Flow<T> = Result<T, Stop>;

enum End {
    Routine,
    /// An unreadable record: reconnect from the cursor after this pause.
    Reread(Duration),
    Stall,
    ErrorEvent(String),
    Failed(SourceError),
}

pub struct Follower<T: Target> {
    /// `target.scope()`, kept for logs and source calls.
    scope: Scope,
    source: Arc<dyn LedgerSource>,
    target: T,
    cfg: FollowConfig,
    status: Arc<FollowerStatus>,
    stored_cursor: Option<i64>,
    /// The last token the sink confirmed. Only `deliver` and initialisation move it.
    cursor: i64,
    next_retention: Instant,
    rereading: Option<Rereading>,
    /// Stop once caught up instead of streaming (see [`Follower::catch_up_only`]).
    catch_up_only: bool,
}

impl<K: RecordSink> Follower<AccountTarget<K>> {
    /// One account's follower. `stored_cursor` is the account's persisted cursor (`None` for
    /// a new account).
    pub fn new(
        account: AccountId,
        source: Arc<dyn LedgerSource>,
        sink: K,
        cfg: FollowConfig,
        stored_cursor: Option<i64>,
    ) -> Self {
        Follower::following(AccountTarget { account, sink }, source, cfg, stored_cursor)
    }
}

impl<N: NetworkSink> Follower<NetworkTarget<N>> {
    /// The network's follower: every payment of the network, routed to the accounts in
    /// `watched` (see [`NetworkTarget`]). `stored_cursor` is the network cursor.
    pub fn network(
        sink: N,
        watched: tokio::sync::watch::Receiver<WatchedSet>,
        source: Arc<dyn LedgerSource>,
        cfg: FollowConfig,
        stored_cursor: Option<i64>,
    ) -> Self {
        let target = NetworkTarget::new(sink, watched, source.clone());
        Follower::following(target, source, cfg, stored_cursor)
    }
}

impl<T: Target> Follower<T> {
    /// A follower of whatever `target` follows, from `stored_cursor` (`None`: from the
    /// latest ledger, persisted through the target first).
    pub fn following(
        target: T,
        source: Arc<dyn LedgerSource>,
        cfg: FollowConfig,
        stored_cursor: Option<i64>,
    ) -> Self {
        let scope = target.scope();
        Follower {
            scope,
            source,
            target,
            cfg,
            status: FollowerStatus::of(scope),
            stored_cursor,
            cursor: 0,
            next_retention: Instant::now(),
            rereading: None,
            catch_up_only: false,
        }
    }

    /// Pages until a page comes back empty, then ends with [`FollowerExit::CaughtUp`] instead
    /// of streaming: network mode's catch-up of an account added with an old start, whose
    /// later payments the network's follower routes.
    pub fn catch_up_only(mut self) -> Self {
        self.catch_up_only = true;
        self
    }

    pub fn status(&self) -> Arc<FollowerStatus> {
        self.status.clone()
    }

    /// Runs until `cancel` fires or the account halts (network reset, fatal sink error).
    /// Source failures never end it: they are retried with backoff.
    pub async fn run(mut self, cancel: CancellationToken) -> FollowerExit {
        let span = tracing::info_span!("follower", account = %self.scope);
        let stop = self.run_inner(&cancel).instrument(span).await;
        match stop {
            Stop::Cancelled => {
                self.status.set_state(FollowerState::Stopped);
                FollowerExit::Cancelled
            }
            Stop::CaughtUp => {
                self.status.set_state(FollowerState::Stopped);
                FollowerExit::CaughtUp
            }
            Stop::Halted(reason) => {
                tracing::error!(account = %self.scope, %reason, "follower halted");
                self.status.set_state(FollowerState::Halted {
                    reason: reason.clone(),
                });
                FollowerExit::Halted(reason)
            }
        }
    }

    async fn run_inner(&mut self, cancel: &CancellationToken) -> Stop {
        let flow = async {
            self.cursor = match self.stored_cursor {
                Some(c) => c,
                None => self.initialise(cancel).await?,
            };
            self.status.set_cursor(self.cursor);
            self.retention_check(cancel).await?;
            let mut attempt = 0;
            while !self.catch_up(cancel).await? && self.catch_up_only {
                // Held at a record paging cannot pass: page again after a pause (streaming
                // would never end).
                self.sleep(self.backoff(attempt), cancel).await?;
                attempt += 1;
            }
            if self.catch_up_only {
                return Err(Stop::CaughtUp);
            }
            self.live(cancel).await
        };
        match flow.await {
            Ok(()) => Stop::Cancelled,
            Err(stop) => stop,
        }
    }

    async fn sleep(&self, d: Duration, cancel: &CancellationToken) -> Flow<()> {
        tokio::select! {
            _ = cancel.cancelled() => Err(Stop::Cancelled),
            _ = tokio::time::sleep(d) => Ok(()),
        }
    }

    async fn or_cancel<V>(
        &self,
        cancel: &CancellationToken,
        f: impl Future<Output = V>,
    ) -> Flow<V> {
        tokio::select! {
            _ = cancel.cancelled() => Err(Stop::Cancelled),
            v = f => Ok(v),
        }
    }

    /// Full jitter: attempt `n` waits a random time in `[0, min(backoff_max, backoff_base * 2^n)]`.
    fn backoff(&self, attempt: u32) -> Duration {
        Backoff::new(self.cfg.backoff_base, self.cfg.backoff_max, Jitter::Full).delay(attempt)
    }

    /// Logs a source failure, counts it, and waits as its kind asks.
    async fn source_failed(
        &self,
        what: &str,
        e: &SourceError,
        attempt: &mut u32,
        cancel: &CancellationToken,
    ) -> Flow<()> {
        FollowerStatus::bump(&self.status.errors);
        let delay = match e {
            SourceError::RateLimited {
                retry_after: Some(d),
            } => (*d).min(self.cfg.max_retry_after),
            SourceError::NotFound { .. } => self.cfg.not_found_retry,
            _ => self.backoff(*attempt),
        };
        *attempt = attempt.saturating_add(1);
        match e {
            SourceError::NotFound { .. } => tracing::warn!(
                account = %self.scope, error = %e, ?delay,
                "{what}: the source does not know this account (not funded yet?); retrying slowly"
            ),
            _ => {
                tracing::warn!(account = %self.scope, error = %e, ?delay, "{what} failed; backing off")
            }
        }
        self.status.set_state(FollowerState::BackingOff {
            reason: format!("{what}: {e}"),
        });
        self.sleep(delay, cancel).await
    }

    /// `cursor=now` semantics without ever sending `now`: the token just after every
    /// operation of the latest ledger the source holds, persisted before anything is read.
    async fn initialise(&mut self, cancel: &CancellationToken) -> Flow<i64> {
        let mut attempt = 0;
        let root = loop {
            match self.or_cancel(cancel, self.source.root()).await? {
                Ok(r) if r.latest_ledger > 0 => break r,
                Ok(_) => {
                    let e = SourceError::Malformed("the source holds no ledgers yet".into());
                    self.source_failed("initial root", &e, &mut attempt, cancel)
                        .await?
                }
                Err(e) => {
                    self.source_failed("initial root", &e, &mut attempt, cancel)
                        .await?
                }
            }
        };
        let token = now_token(root.latest_ledger);
        let mut attempt = 0;
        loop {
            match self.target.initialise_cursor(token).await {
                Ok(()) => break,
                Err(SinkError::Retryable(m)) => {
                    FollowerStatus::bump(&self.status.sink_retries);
                    tracing::warn!(account = %self.scope, error = %m, "storing the initial cursor failed; retrying");
                    self.sleep(self.backoff(attempt), cancel).await?;
                    attempt += 1;
                }
                Err(SinkError::Fatal(m)) => {
                    return Err(Stop::Halted(HaltReason::SinkFatal { message: m }));
                }
            }
        }
        tracing::info!(account = %self.scope, cursor = token, ledger = root.latest_ledger, "new account: following from the latest ledger");
        Ok(token)
    }

    /// Compares the cursor with the history the source holds: older than the elder ledger is
    /// a gap (loud, but ingestion goes on); ahead of the latest ledger is a network reset
    /// (ingestion halts until an operator resets the cursor).
    async fn retention_check(&mut self, cancel: &CancellationToken) -> Flow<()> {
        let root = match self.or_cancel(cancel, self.source.root()).await? {
            Ok(r) if r.latest_ledger > 0 => r,
            other => {
                let why = match other {
                    Err(e) => e.to_string(),
                    Ok(_) => "the source holds no ledgers yet".into(),
                };
                tracing::warn!(account = %self.scope, error = %why, "retention check skipped");
                self.next_retention = Instant::now()
                    + self
                        .cfg
                        .retention_check_interval
                        .min(self.cfg.backoff_max.max(Duration::from_secs(1)));
                return Ok(());
            }
        };
        self.next_retention = Instant::now() + self.cfg.retention_check_interval;
        let ledger = toid::ledger(self.cursor);
        if ledger
            > root
                .latest_ledger
                .saturating_add(self.cfg.reset_tolerance_ledgers)
        {
            self.status.flag_reset();
            tracing::error!(
                account = %self.scope, cursor = self.cursor, cursor_ledger = ledger,
                latest_ledger = root.latest_ledger,
                "cursor is ahead of the source's latest ledger: the network was reset; halting this account"
            );
            return Err(Stop::Halted(HaltReason::NetworkReset {
                cursor_ledger: ledger,
                latest_ledger: root.latest_ledger,
            }));
        }
        if ledger < root.elder_ledger {
            self.status.flag_gap();
            tracing::error!(
                account = %self.scope, cursor = self.cursor, cursor_ledger = ledger,
                elder_ledger = root.elder_ledger,
                "cursor is older than the source's retained history: records in between may be missing"
            );
        }
        Ok(())
    }

    /// Drops records at or before the cursor (a source that repeats itself must not
    /// double-credit) and cuts the rest at the first unreadable record: the readable records
    /// before it and the token that covers them, then the unreadable one, if any. What follows
    /// it is read again once it is passed.
    fn prepare(
        &self,
        records: Vec<FetchedRecord>,
    ) -> (Vec<FetchedRecord>, i64, Option<RecordError>) {
        let mut up_to = self.cursor;
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            match r {
                Ok(rec) if rec.op_id <= up_to => {
                    FollowerStatus::bump(&self.status.duplicates_skipped);
                    tracing::warn!(account = %self.scope, op_id = rec.op_id, tx_hash = %rec.tx_hash, cursor = up_to, "skipping a record at or before the cursor");
                }
                Ok(rec) => {
                    up_to = rec.op_id;
                    out.push(Ok(rec));
                }
                Err(e) => return (out, up_to, Some(e)),
            }
        }
        (out, up_to, None)
    }

    /// Hands a batch to the sink until it is durably handled, then moves the cursor.
    async fn deliver(&mut self, batch: Batch, cancel: &CancellationToken) -> Flow<()> {
        let mut attempt = 0;
        loop {
            match self.target.handle_batch(&batch).await {
                Ok(()) => break,
                Err(SinkError::Retryable(m)) => {
                    FollowerStatus::bump(&self.status.sink_retries);
                    tracing::warn!(account = %self.scope, up_to = batch.up_to, error = %m, "sink failed; retrying the same batch");
                    self.status.set_state(FollowerState::BackingOff {
                        reason: format!("sink: {m}"),
                    });
                    self.sleep(self.backoff(attempt), cancel).await?;
                    attempt += 1;
                }
                Err(SinkError::Fatal(m)) => {
                    return Err(Stop::Halted(HaltReason::SinkFatal { message: m }));
                }
            }
        }
        for r in &batch.records {
            match r {
                Ok(rec) => {
                    FollowerStatus::bump(&self.status.records);
                    self.status.saw_ledger(rec.ledger);
                    tracing::debug!(account = %self.scope, op_id = rec.op_id, tx_hash = %rec.tx_hash, op = rec.operation.type_name(), "record handled");
                }
                Err(e) => {
                    tracing::debug!(account = %self.scope, op_id = e.paging_token, reads = e.reads, "unreadable record stored and passed");
                }
            }
        }
        self.cursor = self.cursor.max(batch.up_to);
        self.status.set_cursor(self.cursor);
        Ok(())
    }

    /// Hands a record the follower gave up re-reading to the sink, alone, to be stored.
    async fn deliver_unreadable(
        &mut self,
        e: RecordError,
        token: i64,
        phase: Phase,
        cancel: &CancellationToken,
    ) -> Flow<()> {
        self.deliver(
            Batch {
                records: vec![Err(e)],
                up_to: token,
                phase,
            },
            cancel,
        )
        .await?;
        self.rereading = None;
        Ok(())
    }
}
