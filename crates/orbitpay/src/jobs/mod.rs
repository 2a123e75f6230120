//! Periodic jobs. tokio-cron-scheduler only triggers them: it decides by the wall clock, lets
//! runs overlap and drops missed ticks, so each job is a plain async fn in its own module
//! (testable on its own, with the database's clock), guarded here against overlapping itself,
//! safe to run on several instances at once, and stopped at a safe point (between items) at
//! shutdown:
//!
//! - [`recovery`]: sessions stuck in `processing` are looked up on the ledger again;
//! - [`expiry`]: `pending` sessions past `expires_at` become `expired`, by ledger time;
//! - [`reconcile`]: the recent REST history goes through the matcher's idempotent path;
//! - [`prune`]: idempotency keys and delivered outbox events past their age.
//!
//! Each run's start, duration, outcome and counts go to the [`runs::JobBoard`] (`/v1/status`,
//! `orbitpay status`) and to metrics.

pub mod expiry;
pub mod prune;
pub mod reconcile;
pub mod recovery;
pub mod runs;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use orbitpay_core::AccountId;
use orbitpay_horizon::LedgerSource;
use orbitpay_matcher::Matcher;
use orbitpay_store::DbPool;
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
pub use prune::prune_idempotency_keys;
use runs::{JobBoard, JobRun, Outcome, Report};

/// Attempts of one database call of a job before its run gives up on it.
const DB_ATTEMPTS: u32 = 5;

/// Full jitter from 50 ms doubling to 5 s, the matcher's default `retry_base` and `retry_cap`:
/// five attempts ride out a connection ended or a deadlock, not a long outage.
const DB_BACKOFF: orbitpay_core::Backoff = orbitpay_core::Backoff::new(
    std::time::Duration::from_millis(50),
    std::time::Duration::from_secs(5),
    orbitpay_core::Jitter::Full,
);

/// A job's database calls: the store's one retry (`orbitpay_store::with_retry!`), at most
/// [`DB_ATTEMPTS`] attempts and ended early by the run's `stop`, so a transient error (a
/// connection ended, a deadlock) does not end the run, and an outage does not hold it forever.
pub(crate) fn db_retry(stop: &CancellationToken) -> orbitpay_store::retry::Retry<'_> {
    orbitpay_store::retry::Retry::attempts(DB_ATTEMPTS, DB_BACKOFF).or_until(stop)
}

/// What the jobs work with. Without a ledger source (a wiring that has none) only the prune
/// job runs.
#[derive(Clone)]
pub struct JobDeps {
    pub pool: DbPool,
    pub source: Option<Arc<dyn LedgerSource>>,
    pub matcher: Option<Arc<Matcher>>,
    pub accounts: Vec<AccountId>,
    pub board: Arc<JobBoard>,
}

impl JobDeps {
    /// Only the database: the prune job.
    pub fn database_only(pool: DbPool) -> JobDeps {
        JobDeps {
            pool,
            source: None,
            matcher: None,
            accounts: Vec::new(),
            board: JobBoard::new(),
        }
    }
}

/// The running scheduler; [`Jobs::stop`] stops triggering, asks runs in flight to stop at
/// their next safe point, and waits for them.
pub struct Jobs {
    scheduler: JobScheduler,
    running: TaskTracker,
    stop: CancellationToken,
}

/// Runs `run` for `name` unless its previous run is still going, and records the run.
async fn guarded<F, Fut>(
    name: &'static str,
    guard: Arc<Mutex<()>>,
    board: Arc<JobBoard>,
    stop: CancellationToken,
    run: F,
) where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<Report>>,
{
    let started_at = chrono::Utc::now();
    let clock = Instant::now();
    let Ok(_running) = guard.try_lock_owned() else {
        tracing::warn!(job = name, "previous run still going; skipping this tick");
        board.record(JobRun {
            job: name,
            started_at,
            duration_seconds: 0.0,
            outcome: Outcome::Overlapped,
            counts: Default::default(),
            notes: Vec::new(),
            error: None,
        });
        return;
    };
    let result = run(stop.clone()).await;
    let duration_seconds = clock.elapsed().as_secs_f64();
    let (outcome, report, error) = match result {
        Ok(report) if stop.is_cancelled() => (Outcome::Stopped, report, None),
        Ok(report) => (Outcome::Ok, report, None),
        Err(e) => {
            let error = format!("{e:#}");
            tracing::error!(job = name, error = %error, "job run failed");
            (Outcome::Failed, Report::default(), Some(error))
        }
    };
    board.record(JobRun {
        job: name,
        started_at,
        duration_seconds,
        outcome,
        counts: report.counts,
        notes: report.notes,
        error,
    });
}

/// Adds one job to the scheduler: `make` builds each run's future from the stop token.
async fn add<F, Fut>(
    jobs: &Jobs,
    board: &Arc<JobBoard>,
    schedule: &str,
    name: &'static str,
    make: F,
) -> anyhow::Result<()>
where
    F: Fn(CancellationToken) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = anyhow::Result<Report>> + Send + 'static,
{
    let guard = Arc::new(Mutex::new(()));
    let (board, tracker, stop) = (board.clone(), jobs.running.clone(), jobs.stop.clone());
    let job = Job::new_async(schedule, move |_, _| {
        let (guard, board, tracker, stop, make) = (
            guard.clone(),
            board.clone(),
            tracker.clone(),
            stop.clone(),
            make.clone(),
        );
        Box::pin(async move {
            if stop.is_cancelled() {
                return;
            }
            tracker
                .track_future(guarded(name, guard, board, stop, make))
                .await;
        })
    })?;
    jobs.scheduler.add(job).await?;
    Ok(())
}

pub async fn start(config: &Config, deps: JobDeps) -> anyhow::Result<Jobs> {
    let jobs = Jobs {
        scheduler: JobScheduler::new().await?,
        running: TaskTracker::new(),
        stop: CancellationToken::new(),
    };
    let board = deps.board.clone();
    let c = config.jobs.clone();

    let (pool, ttl, events_after) = (
        deps.pool.clone(),
        config.admin.idempotency_ttl,
        c.prune_events_after,
    );
    add(&jobs, &board, &c.prune, "prune", move |stop| {
        let pool = pool.clone();
        async move { prune::prune(&pool, ttl, events_after, &stop).await }
    })
    .await?;

    if let Some(source) = deps.source.clone() {
        if let Some(matcher) = deps.matcher.clone() {
            let settings = recovery::RecoverySettings {
                after: c.recovery_after,
                batch: c.recovery_batch,
            };
            add(&jobs, &board, &c.recovery, "recovery", move |stop| {
                let (matcher, settings) = (matcher.clone(), settings.clone());
                async move { recovery::recover_stuck_sessions(&matcher, &settings, &stop).await }
            })
            .await?;
        }

        let (pool, src, accounts) = (deps.pool.clone(), source.clone(), deps.accounts.clone());
        add(&jobs, &board, &c.expiry, "expiry", move |stop| {
            let (pool, src, accounts) = (pool.clone(), src.clone(), accounts.clone());
            async move {
                let accounts = watched_now(&pool, &accounts).await;
                expiry::expire_sessions(&pool, &*src, &accounts, &stop).await
            }
        })
        .await?;

        if let Some(matcher) = deps.matcher.clone() {
            let (pool, src, accounts, window) = (
                deps.pool.clone(),
                source.clone(),
                deps.accounts.clone(),
                c.reconcile_window,
            );
            add(&jobs, &board, &c.reconcile, "reconcile", move |stop| {
                let (pool, src, accounts, matcher) =
                    (pool.clone(), src.clone(), accounts.clone(), matcher.clone());
                async move {
                    let accounts = watched_now(&pool, &accounts).await;
                    reconcile::reconcile(&pool, &*src, &matcher, &accounts, window, &stop).await
                }
            })
            .await?;
        }
    }
    jobs.scheduler.start().await?;
    Ok(jobs)
}

/// The accounts watched as of this run (accounts are added and removed at runtime); the ones
/// watched at start when the table cannot be read.
async fn watched_now(pool: &orbitpay_store::DbPool, at_start: &[AccountId]) -> Vec<AccountId> {
    let read = async {
        let mut conn = pool.get().await?;
        crate::accounts::watched(&mut conn).await
    };
    match read.await {
        Ok(accounts) => accounts.into_iter().map(|(a, _)| a).collect(),
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "cannot read the watched accounts; using those watched at start"
            );
            at_start.to_vec()
        }
    }
}

impl Jobs {
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Err(e) = self.scheduler.shutdown().await {
            tracing::warn!(error = %e, "job scheduler did not shut down cleanly");
        }
        self.running.close();
        self.running.wait().await;
    }
}
