//! Pruning: idempotency keys past their TTL, and delivered outbox events (with their
//! deliveries and attempts) older than `jobs.prune_events_after`, by the database's clock.
//! Never an undelivered event, never a session, payment or unmatched row. Plain DELETEs in
//! batches (rows another instance holds are skipped): harmless when two instances run it.

use std::time::Duration;

use orbitpay_store::{DbPool, with_retry};
use tokio_util::sync::CancellationToken;

use super::db_retry;
use super::runs::Report;

/// Events per deleting transaction.
const BATCH: i64 = 1000;

/// Deletes idempotency keys older than `ttl`. One DELETE.
pub async fn prune_idempotency_keys(pool: &DbPool, ttl: Duration) -> anyhow::Result<usize> {
    let never = CancellationToken::new();
    Ok(with_retry!(pool, db_retry(&never), |conn| {
        orbitpay_store::idempotency::prune_older_than(conn, ttl)
    })?)
}

/// Deletes delivered events older than `older_than`, batch by batch, until none is left or
/// `stop`. Returns (events, deliveries, attempts) deleted.
pub async fn prune_delivered_events(
    pool: &DbPool,
    older_than: Duration,
    stop: &CancellationToken,
) -> anyhow::Result<orbitpay_store::retention::Pruned> {
    let mut total = orbitpay_store::retention::Pruned::default();
    loop {
        let pruned = with_retry!(pool, db_retry(stop), |conn| {
            orbitpay_store::retention::prune_delivered_events(conn, older_than, BATCH)
        })?;
        total.events += pruned.events;
        total.deliveries += pruned.deliveries;
        total.attempts += pruned.attempts;
        if (pruned.events as i64) < BATCH || stop.is_cancelled() {
            return Ok(total);
        }
    }
}

/// One run of the prune job.
pub async fn prune(
    pool: &DbPool,
    idempotency_ttl: Duration,
    events_after: Duration,
    stop: &CancellationToken,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let keys = prune_idempotency_keys(pool, idempotency_ttl).await?;
    report.add("deleted_idempotency_keys", keys as u64);
    let events = prune_delivered_events(pool, events_after, stop).await?;
    report.add("deleted_events", events.events as u64);
    report.add("deleted_deliveries", events.deliveries as u64);
    report.add("deleted_attempts", events.attempts as u64);
    tracing::info!(
        job = "prune",
        idempotency_keys = keys,
        events = events.events,
        deliveries = events.deliveries,
        attempts = events.attempts,
        "prune run done"
    );
    Ok(report)
}
