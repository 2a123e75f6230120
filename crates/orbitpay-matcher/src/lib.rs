//! The matcher: ties each ledger record to its session, exactly once.
//!
//! It is the one front door to settlement (`settle.rs`): the stream's batches, reconciliation
//! ([`Matcher::settle_again`]), client reports ([`Matcher::report_tx`]) and the recovery job
//! ([`Matcher::recover`]) all settle through it, so every credit is logged and counted once.
//!
//! It is the follower's [`RecordSink`]. For every batch it asks core what each record means
//! ([`prepare::intent`]), then runs the store's two committed steps: claim, then settle (which
//! also stores the cursor). PostgreSQL errors are classified by SQLSTATE: transient ones (the
//! server, the network, the pool, contention) are retried with capped backoff (the store's
//! `with_retry!`, shared by every pool user) for as long as they last, until shutdown; only a
//! fault in the data halts the account, leaving the cursor where it was: better stopped than
//! skipped.
//!
//! Nothing else makes the matcher wait: a session claimed by another transaction (a client
//! report not yet confirmed, another instance mid-settle) takes a credit from this one at
//! once, and the batch and its cursor go on.
//!
//! An unreadable record (the follower hands one over only after re-reading it) is stored in
//! `unreadable_records` in the transaction that moves the cursor past it; the reconciliation
//! job credits it later, once it reads.

mod decision;
mod network;
pub mod prepare;
mod reconcile;
mod recover;
mod report;
mod settle;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orbitpay_core::{AccountId, LedgerRecord};
use orbitpay_core::{Backoff, Jitter};
use orbitpay_horizon::{Batch, FetchedRecord, LedgerSource, RecordSink, SinkError};
use orbitpay_store::models::NewUnreadableRecord;
use orbitpay_store::retry::Retry;
use orbitpay_store::settlement;
use orbitpay_store::{DbPool, ErrorClass, StoreError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, warn};

pub use network::{Handover, RoutedSink};
pub use recover::RecoveryAction;
pub use report::{ReportError, ReportOutcome};
use settle::Prepared;

/// The store's [`orbitpay_store::with_retry!`] on the matcher's pool, its error as the
/// matcher's: the one retry every pool user shares (its WARN, its counting, the dropping of a
/// suspect connection), not a copy.
macro_rules! with_retry {
    ($matcher:expr, $retry:expr, |$conn:ident| $body:expr) => {
        orbitpay_store::with_retry!($matcher.pool, $retry, |$conn| $body)
            .map_err($crate::MatchError::from)
    };
}
pub(crate) use with_retry;

#[derive(Debug, Clone)]
pub struct MatcherConfig {
    /// First backoff after a transient database error; it doubles up to `retry_cap`.
    pub retry_base: Duration,
    /// Longest pause between two attempts. Ingestion retries without limit.
    pub retry_cap: Duration,
    /// Attempts of a client-reported transaction's store calls before the client is answered
    /// with a retryable error (the client is waiting).
    pub report_attempts: u32,
    /// Pause between transaction lookups while confirming a client-reported transaction.
    pub confirm_poll: Duration,
    /// How long a client-reported transaction keeps being confirmed in the background. At the
    /// end, a ledger that still does not know it releases the claim; a ledger that did not
    /// answer leaves it to the recovery job.
    pub background_confirm: Duration,
}

impl Default for MatcherConfig {
    fn default() -> Self {
        MatcherConfig {
            retry_base: Duration::from_millis(50),
            retry_cap: Duration::from_secs(5),
            report_attempts: 5,
            confirm_poll: Duration::from_millis(500),
            background_confirm: Duration::from_secs(300),
        }
    }
}

pub struct Matcher {
    pool: DbPool,
    source: Arc<dyn LedgerSource>,
    config: MatcherConfig,
    /// Background confirmations of client-reported transactions, drained at shutdown.
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    /// Only when retrying stopped: at shutdown, or a client-facing call out of attempts.
    #[error("transient database error: {0}")]
    Transient(#[source] StoreError),
    #[error("database error: {0}")]
    Fatal(#[source] StoreError),
}

impl From<StoreError> for MatchError {
    fn from(e: StoreError) -> Self {
        match e.class() {
            ErrorClass::Transient(_) => MatchError::Transient(e),
            ErrorClass::Fatal(_) => MatchError::Fatal(e),
        }
    }
}

impl From<MatchError> for SinkError {
    fn from(e: MatchError) -> Self {
        match e {
            MatchError::Fatal(_) => SinkError::Fatal(e.to_string()),
            MatchError::Transient(_) => SinkError::Retryable(e.to_string()),
        }
    }
}

impl Matcher {
    pub fn new(pool: DbPool, source: Arc<dyn LedgerSource>, config: MatcherConfig) -> Arc<Self> {
        Arc::new(Matcher {
            pool,
            source,
            config,
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        })
    }

    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// The follower's consumer for one account, retrying database errors until the matcher
    /// shuts down.
    pub fn sink(self: &Arc<Self>, account: AccountId) -> AccountSink {
        self.sink_until(account, self.shutdown.clone())
    }

    /// Like [`Matcher::sink`], also giving up a retry when `stop` fires (the follower's own
    /// shutdown), so a database outage never holds up a stop.
    pub fn sink_until(
        self: &Arc<Self>,
        account: AccountId,
        stop: CancellationToken,
    ) -> AccountSink {
        AccountSink {
            matcher: self.clone(),
            account,
            stop,
        }
    }

    /// Stops background confirmations and waits for them (bounded by the caller).
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Durably handles `records` for `account` and stores `up_to` as its cursor.
    ///
    /// Returns only when every record is settled or recorded (or on error); no record waits
    /// for another transaction's claim. An unreadable record is stored, with the cursor moved
    /// to its token, after the records before it are settled.
    pub async fn handle(
        &self,
        account: &AccountId,
        records: &[FetchedRecord],
        up_to: i64,
    ) -> Result<(), MatchError> {
        self.handle_until(account, records, up_to, &self.shutdown)
            .await
    }

    /// [`Matcher::handle`], whose retries also end when `stop` fires.
    pub async fn handle_until(
        &self,
        account: &AccountId,
        records: &[FetchedRecord],
        up_to: i64,
        stop: &CancellationToken,
    ) -> Result<(), MatchError> {
        let retry = self.until(stop);
        let mut readable: Vec<&LedgerRecord> = Vec::with_capacity(records.len());
        let mut passed = None;
        for r in records {
            match r {
                Ok(record) => readable.push(record),
                Err(e) => {
                    if let Some(last) = readable.last() {
                        self.handle_readable(account, &readable, last.op_id, retry)
                            .await?;
                        readable.clear();
                    }
                    passed = Some(self.store_unreadable(account, e, retry).await?);
                }
            }
        }
        if !readable.is_empty() || passed.is_none_or(|p| p < up_to) {
            self.handle_readable(account, &readable, up_to, retry)
                .await?;
        }
        Ok(())
    }

    /// Stores a record the follower gave up reading and moves the cursor to its token, in one
    /// transaction. Returns the token.
    async fn store_unreadable(
        &self,
        account: &AccountId,
        e: &orbitpay_horizon::RecordError,
        retry: Retry<'_>,
    ) -> Result<i64, MatchError> {
        let Some(token) = e.paging_token else {
            // Nothing to key a row on, and nothing to move the cursor to: stop rather than
            // pass a record without a trace (the follower never hands one over).
            return Err(MatchError::Fatal(StoreError::Corrupt(format!(
                "an unreadable record without a paging token reached the matcher: {}",
                e.reason
            ))));
        };
        let row = unreadable_row(account.to_string(), e, token);
        with_retry!(self, retry, |conn| {
            orbitpay_store::unreadable::record_and_advance(conn, account, &row)
        })?;
        log_unreadable(&row.account, e, token);
        Ok(token)
    }

    /// Settles readable records and stores `up_to` as the cursor.
    async fn handle_readable(
        &self,
        account: &AccountId,
        readable: &[&LedgerRecord],
        up_to: i64,
        retry: Retry<'_>,
    ) -> Result<(), MatchError> {
        let prepared = Prepared::new(account, readable.iter().copied());
        let items = prepared.items();
        let claimed = with_retry!(self, retry, |conn| settlement::claim(conn, account, &items))?;
        if !claimed.claimed.is_empty() {
            orbitpay_store::crash::point("claim-committed");
        }
        if let Err(e) = self.settle(account, &prepared, Some(up_to), retry).await {
            if matches!(e, MatchError::Fatal(_)) {
                self.release_claims(account, &claimed.claimed, retry).await;
            }
            return Err(e);
        }
        Ok(())
    }

    /// Gives back the claims a batch took when its settlement cannot commit: the account halts,
    /// and a halted account must not leave its sessions `processing` (closed to client reports
    /// and other transactions) until an operator acts. The settlement rolled back, so nothing
    /// was credited under these claims; a redelivery claims them again. Best effort: the
    /// settlement's own error is what the caller reports.
    async fn release_claims(
        &self,
        account: &AccountId,
        claims: &[(uuid::Uuid, orbitpay_core::TxHash)],
        retry: Retry<'_>,
    ) {
        for &(session_id, tx_hash) in claims {
            match with_retry!(self, retry, |conn| settlement::release_claim(
                conn,
                session_id,
                tx_hash,
                "settlement_failed"
            )) {
                Ok(Some(_)) => {
                    warn!(account = %account, session_id = %session_id, tx_hash = %tx_hash,
                                     "settlement failed; claim on the session released")
                }
                Ok(None) => {}
                Err(e) => error!(account = %account, session_id = %session_id, tx_hash = %tx_hash,
                                 error = %e, "settlement failed and its claim could not be released"),
            }
        }
    }

    /// Full jitter from `retry_base`, doubling up to `retry_cap`.
    fn backoff(&self) -> Backoff {
        Backoff::new(self.config.retry_base, self.config.retry_cap, Jitter::Full)
    }

    /// Retry policy of ingestion: until `stop` or the matcher's shutdown.
    fn until<'a>(&'a self, stop: &'a CancellationToken) -> Retry<'a> {
        Retry::until(stop, self.backoff()).or_until(&self.shutdown)
    }

    /// Retry policy of calls a client is waiting on.
    fn for_client(&self) -> Retry<'_> {
        Retry::attempts(self.config.report_attempts, self.backoff()).or_until(&self.shutdown)
    }
}

/// The row of an unreadable record stored for `account` (an address, or the network's key).
fn unreadable_row(
    account: String,
    e: &orbitpay_horizon::RecordError,
    token: i64,
) -> NewUnreadableRecord {
    NewUnreadableRecord {
        account,
        paging_token: token,
        raw: e.raw.clone(),
        raw_truncated: e.raw_truncated,
        parse_error: e.reason.clone(),
        attempts: i32::try_from(e.reads.max(1)).unwrap_or(i32::MAX),
    }
}

/// Logs and counts an unreadable record once it is stored.
fn log_unreadable(account: &str, e: &orbitpay_horizon::RecordError, token: i64) {
    error!(account = %account, op_id = token, reads = e.reads, excerpt = %e.excerpt(),
           decision = "unreadable",
           "ledger record unreadable on every read; stored in unreadable_records for reconciliation, cursor moved past it: {}",
           e.reason);
    metrics::counter!("orbitpay_records_total", "decision" => "unreadable").increment(1);
}

/// The follower's consumer for one account: a thin adapter onto [`Matcher::handle`].
pub struct AccountSink {
    matcher: Arc<Matcher>,
    account: AccountId,
    stop: CancellationToken,
}

#[async_trait]
impl RecordSink for AccountSink {
    async fn initialise_cursor(
        &mut self,
        account: &AccountId,
        token: i64,
    ) -> Result<(), SinkError> {
        let retry = self.matcher.until(&self.stop);
        with_retry!(self.matcher, retry, |conn| orbitpay_store::cursors::set(
            conn, account, token
        ))
        .map(|_| ())
        .map_err(SinkError::from)
    }

    async fn handle_batch(&mut self, account: &AccountId, batch: &Batch) -> Result<(), SinkError> {
        debug_assert_eq!(account, &self.account);
        debug!(account = %account, records = batch.records.len(), up_to = batch.up_to,
               phase = ?batch.phase, "settling a batch");
        self.matcher
            .handle_until(account, &batch.records, batch.up_to, &self.stop)
            .await
            .map_err(SinkError::from)
    }
}
