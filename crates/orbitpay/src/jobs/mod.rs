//! Periodic jobs. tokio-cron-scheduler only triggers them: it decides by the wall clock, lets
//! runs overlap and drops missed ticks, so each job is a plain async fn (testable on its own,
//! with the database's clock), guarded here against overlapping itself, and safe to run on
//! several instances at once. Recovery, expiry and reconciliation join this list with their
//! issue.

use std::sync::Arc;
use std::time::Duration;

use orbitpay_store::DbPool;
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::task::TaskTracker;

use crate::config::Config;

/// Deletes idempotency keys older than `ttl`. One DELETE: harmless when another instance runs it
/// at the same time.
pub async fn prune_idempotency_keys(pool: &DbPool, ttl: Duration) -> anyhow::Result<usize> {
    let mut conn = pool.get().await?;
    Ok(orbitpay_store::idempotency::prune_older_than(&mut conn, ttl).await?)
}

/// The running scheduler; [`Jobs::stop`] stops triggering and waits for runs in flight.
pub struct Jobs {
    scheduler: JobScheduler,
    running: TaskTracker,
}

pub async fn start(config: &Config, pool: DbPool) -> anyhow::Result<Jobs> {
    let scheduler = JobScheduler::new().await?;
    let running = TaskTracker::new();
    let ttl = config.admin.idempotency_ttl;
    let guard = Arc::new(Mutex::new(()));
    let (tracker, job_pool) = (running.clone(), pool);
    let job = Job::new_async(config.jobs.prune_idempotency_keys.as_str(), move |_, _| {
        let (guard, pool, tracker) = (guard.clone(), job_pool.clone(), tracker.clone());
        Box::pin(async move {
            let Ok(_running) = guard.try_lock_owned() else {
                tracing::warn!(
                    job = "prune_idempotency_keys",
                    "previous run still going; skipping this tick"
                );
                return;
            };
            tracker
                .track_future(async move {
                    match prune_idempotency_keys(&pool, ttl).await {
                        Ok(n) => tracing::info!(
                            job = "prune_idempotency_keys",
                            deleted = n,
                            "pruned idempotency keys"
                        ),
                        Err(e) => tracing::error!(
                            job = "prune_idempotency_keys",
                            error = format!("{e:#}"),
                            "pruning failed"
                        ),
                    }
                })
                .await;
        })
    })?;
    scheduler.add(job).await?;
    scheduler.start().await?;
    Ok(Jobs { scheduler, running })
}

impl Jobs {
    pub async fn stop(mut self) {
        if let Err(e) = self.scheduler.shutdown().await {
            tracing::warn!(error = %e, "job scheduler did not shut down cleanly");
        }
        self.running.close();
        self.running.wait().await;
    }
}
