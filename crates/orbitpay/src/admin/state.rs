//! What every handler is given: the shared state and the two seams the daemon wires in.

use std::sync::Arc;
use std::time::Duration;

use orbitpay_core::{AccountId, TxHash};
use orbitpay_store::DbPool;
use orbitpay_store::idempotency::KeyPolicy;
use uuid::Uuid;

pub use orbitpay_matcher::{ReportError, ReportOutcome};

use crate::config::{Config, ConfigError, RefundsConfig};

/// The client-reported-transaction path (`POST /v1/sessions/{id}/payments`). The daemon wires
/// the matcher here.
///
/// Contract the implementation must keep, because the HTTP layer may call it again for the
/// same `(session_id, tx_hash)` (a client retry after a crash, an idempotency lock taken over
/// after going stale): reporting a hash that already claimed or paid the session is not an
/// error and never credits twice; it answers the session as it stands (`Settled` when that
/// hash settled it, `Processing` while that hash's claim is open).
#[async_trait::async_trait]
pub trait TxReporter: Send + Sync {
    /// Claims the session with `tx_hash`, confirms it on the ledger waiting at most `wait`,
    /// and settles it.
    async fn report_tx(
        &self,
        session_id: Uuid,
        tx_hash: TxHash,
        wait: Duration,
    ) -> Result<ReportOutcome, ReportError>;
}

/// The ledger's current position, for `POST /v1/accounts` with `start_cursor: now`: resolved
/// when the account is added (and stored as its cursor), so nothing paid after the add is
/// missed however late ingestion starts. The daemon wires the ledger source here.
#[async_trait::async_trait]
pub trait LedgerPosition: Send + Sync {
    /// The paging token just after the latest closed ledger; `Err` says why there is none.
    async fn now_token(&self) -> Result<i64, String>;
}

/// Catch-up progress of an account that is paging through history.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct CatchUpProgress {
    /// Records handled so far in this catch-up.
    pub records: u64,
    /// The ledger reached.
    pub ledger: u32,
    /// The source's latest ledger.
    pub latest_ledger: u32,
    /// Records per second.
    pub rate: f64,
    /// Share of the ledgers between the catch-up's start and the latest one already handled.
    pub percent: Option<f64>,
    pub eta_seconds: Option<f64>,
}

/// One watched account's ingestion status, as `/v1/status` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct AccountStatus {
    #[schema(value_type = String)]
    pub account: AccountId,
    /// Last durably handled paging token.
    pub cursor: Option<i64>,
    /// Ledger of the last record handled.
    pub ledger: Option<u32>,
    /// Age of the last record handled, in seconds.
    pub lag_seconds: Option<f64>,
    /// `standby` (another instance leads it), `starting`, `catching_up`, `streaming` (following
    /// live), `backing_off` (retrying after a failure), `halted` or `stopped`. `halted`, and
    /// `backing_off` for longer than `ingest.retrying_unready_after`, make `/readyz` fail.
    pub state: String,
    /// Why: the failure being retried, or what halted the account.
    pub reason: Option<String>,
    /// Since when the account has been retrying without progress.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub retrying_since: Option<chrono::DateTime<chrono::Utc>>,
    /// A gap in the stored history was detected.
    pub gap: bool,
    /// The network was reset under the stored cursor.
    pub reset: bool,
    pub catch_up: Option<CatchUpProgress>,
}

/// Network mode's one follower of the network's payments (`GET /payments`), which routes
/// every record to the watched accounts it pays.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct NetworkStatus {
    /// Last durably handled paging token of the network (every account's records before it
    /// are settled or recorded).
    pub cursor: Option<i64>,
    /// Ledger of the last record handled.
    pub ledger: Option<u32>,
    /// Age of the last routed record handled, in seconds (0 while streaming).
    pub lag_seconds: Option<f64>,
    /// As an account's: `starting`, `catching_up`, `streaming`, `backing_off`, `halted`,
    /// `stopped`.
    pub state: String,
    pub reason: Option<String>,
    /// Accounts caught up on their own (added with an old start) before the network covers
    /// them alone; each is `catching_up` in `accounts`.
    pub handover: usize,
}

impl AccountStatus {
    pub fn is_halted(&self) -> bool {
        self.state == "halted"
    }

    /// Whether an operator should look at it, and how urgently (0 first): halted, retrying,
    /// catching up, or following with a gap or a reset under its cursor. `None`: following,
    /// starting, standing by or stopped.
    pub fn attention(&self) -> Option<u8> {
        match self.state.as_str() {
            "halted" => Some(0),
            "backing_off" => Some(1),
            "catching_up" => Some(2),
            _ if self.gap || self.reset => Some(3),
            _ => None,
        }
    }

    /// How long it has been retrying without progress, as of `now`.
    pub fn retrying_for(&self, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
        self.retrying_since
            .filter(|_| self.state == "backing_off")
            .and_then(|since| (now - since).to_std().ok())
    }
}

/// The last run of one periodic job in this instance, as `/v1/status` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct JobRunView {
    /// `recovery`, `expiry`, `reconcile` or `prune`.
    pub job: String,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub duration_seconds: f64,
    /// `ok`, `stopped` (by shutdown, at a safe point) or `failed`.
    pub outcome: String,
    /// Items by action (recovery: `settled`, `released`, `unavailable`, `already_resolved`;
    /// expiry: `expired`, `waiting`; reconcile: `checked`, `already_handled`, `newly_handled`,
    /// `unmatched`, `unreadable` ...; prune: `deleted_*`).
    #[schema(value_type = BTreeMap<String, u64>)]
    pub counts: std::collections::BTreeMap<String, u64>,
    /// What an operator should know (why sessions wait to expire).
    pub notes: Vec<String>,
    pub error: Option<String>,
}

/// The followers' live status. The daemon implements it from the follower status handles.
pub trait IngestStatus: Send + Sync {
    fn accounts(&self) -> Vec<AccountStatus>;

    /// The network's follower, in network mode while this instance leads it.
    fn network(&self) -> Option<NetworkStatus> {
        None
    }

    /// The periodic jobs' last runs in this instance.
    fn jobs(&self) -> Vec<JobRunView> {
        Vec::new()
    }
}

/// Everything the handlers need. Cheap to share: the router holds it in an `Arc`.
pub struct AdminState {
    pub pool: DbPool,
    /// The configured accounts; the first still watched is the default receiver of a new
    /// session (else the account added first). Whether an account is watched is the
    /// `watched_accounts` table's to say.
    pub accounts: Vec<AccountId>,
    /// Resolves `start_cursor: now`; without it such an add is 503 LEDGER_UNAVAILABLE.
    pub ledger: Option<Arc<dyn LedgerPosition>>,
    /// Reads accounts for refunds (the merchant's sequence number, the destination's
    /// trustlines); without it a refund is 503 LEDGER_UNAVAILABLE.
    pub source: Option<Arc<dyn orbitpay_horizon::LedgerSource>>,
    /// The bounds of prepared refund transactions.
    pub refunds: RefundsConfig,
    /// A watched account no instance leads for longer than this (the failover bound, 5 ×
    /// `ingest.leader_retry`) makes `/readyz` fail.
    pub unled_unready_after: Duration,
    /// Since when (as `/readyz` saw it) each watched account has had no leader anywhere.
    pub unled_since: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// Network mode: the watched accounts are led together, through the network's one lock
    /// (which `/readyz` then checks instead of each account's).
    pub network_mode: bool,
    /// Network passphrase, for SEP-7 pay URIs (left out of them on the public network).
    pub network_passphrase: String,
    /// `expires_in` when a request gives none.
    pub default_expiry: Duration,
    pub key_policy: KeyPolicy,
    /// How long the report-tx endpoint waits for confirmation before answering `processing`.
    pub confirm_wait: Duration,
    /// An account retrying without progress for longer than this makes `/readyz` fail.
    pub retrying_unready_after: Duration,
    /// Bound on reading a request body.
    pub body_timeout: Duration,
    pub reporter: Arc<dyn TxReporter>,
    pub ingest: Arc<dyn IngestStatus>,
    /// The recorder's handle; `/metrics` renders it. The daemon installs the recorder.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    pub version: String,
    /// `webhooks.url`: the endpoint `POST /v1/webhooks/endpoint/enable` re-enables by default.
    pub webhook_url: Option<String>,
    /// A webhook signing secret is configured. Without one nothing is delivered, so a session's
    /// own `webhook_url` is refused: its deliveries would wait forever and, never delivered,
    /// keep their events from being pruned.
    pub webhooks_configured: bool,
}

impl AdminState {
    /// State from the daemon's configuration.
    pub fn from_config(
        config: &Config,
        pool: DbPool,
        ledger: Option<Arc<dyn LedgerPosition>>,
        source: Option<Arc<dyn orbitpay_horizon::LedgerSource>>,
        reporter: Arc<dyn TxReporter>,
        ingest: Arc<dyn IngestStatus>,
        metrics: metrics_exporter_prometheus::PrometheusHandle,
    ) -> Result<AdminState, ConfigError> {
        Ok(AdminState {
            pool,
            accounts: config
                .watched_accounts()?
                .into_iter()
                .map(|(a, _)| a)
                .collect(),
            ledger,
            source,
            refunds: config.refunds.clone(),
            unled_unready_after: config.ingest.leader_retry
                * (crate::leader::LOCK_SILENCE_FACTOR + 1),
            unled_since: Default::default(),
            network_mode: false,
            network_passphrase: config.stellar.passphrase().to_owned(),
            default_expiry: config.sessions.default_expiry,
            key_policy: KeyPolicy {
                ttl: config.admin.idempotency_ttl,
                ..KeyPolicy::default()
            },
            confirm_wait: config.admin.confirm_wait,
            retrying_unready_after: config.ingest.retrying_unready_after,
            body_timeout: config.admin.request_timeout,
            reporter,
            ingest,
            metrics,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            webhook_url: config.webhooks.url.clone(),
            webhooks_configured: config.webhooks.signer().is_some(),
        })
    }
}
