//! Prometheus metrics through the `metrics` facade.
//!
//! The daemon installs the recorder once ([`install`]); every module emits with
//! `metrics::counter!`/`gauge!`/`histogram!`. `/metrics` is rendered from the returned handle on
//! the admin socket (the admin module) and, when `metrics.listen` is set, on a loopback TCP
//! listener ([`serve_tcp`]).
//!
//! This module also owns the gauges that nobody emits inline, refreshed every
//! `metrics.refresh_interval` by [`run_refresher`]: sessions by status, unmatched payments by
//! reason, outbox depth and oldest age (from the database), pool connections in use and waiters
//! (from the pool), and the watched accounts' figures from the followers' status, on a bounded
//! number of series ([`accounts`]).

pub mod accounts;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;
use orbitpay_store::DbPool;
use orbitpay_store::outbox::OutboxDepth;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::status::StatusBoard;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets (seconds) for every histogram: admin requests and database transactions.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the Prometheus recorder as the process's global recorder (once; later calls return
/// the same handle). If some other recorder was installed first, the handle renders nothing and
/// a warning is logged. A gauge not set for `gauges_idle_after` leaves `/metrics`: that is how
/// an account's gauge goes once the account leaves the bounded set (see [`accounts`]), so it
/// must be longer than the slowest periodic setter (the refresher, the watchdog).
pub fn install(gauges_idle_after: Duration) -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = builder(gauges_idle_after).build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
            }
            describe();
            handle
        })
        .clone()
}

/// The recorder's settings: the latency buckets, and gauges dropped after `gauges_idle_after`
/// without an update (counters and histograms stay).
pub fn builder(gauges_idle_after: Duration) -> PrometheusBuilder {
    let builder =
        PrometheusBuilder::new().idle_timeout(MetricKindMask::GAUGE, Some(gauges_idle_after));
    match builder.set_buckets(BUCKETS) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "histogram buckets rejected; using summaries");
            PrometheusBuilder::new().idle_timeout(MetricKindMask::GAUGE, Some(gauges_idle_after))
        }
    }
}

/// How long a gauge may go without an update before it leaves `/metrics`: four of the slowest
/// periodic setter's intervals.
pub fn gauges_idle_after(refresh_interval: Duration, watchdog: Option<Duration>) -> Duration {
    refresh_interval.max(watchdog.unwrap_or_default()) * 4
}

fn describe() {
    crate::jobs::runs::describe();
    describe_gauge!(
        "orbitpay_sessions",
        "Payment sessions by status (refreshed periodically from the database)."
    );
    describe_gauge!(
        "orbitpay_unmatched_payments",
        "Unmatched payments recorded, by reason (refreshed periodically)."
    );
    describe_gauge!(
        "orbitpay_unreadable_records",
        "Ledger records stored as unreadable and not yet resolved by reconciliation: money \
         orbitpay has not interpreted (refreshed periodically from the database)."
    );
    describe_gauge!(
        "orbitpay_outbox_depth",
        "Webhook deliveries still owed (pending or in flight)."
    );
    describe_gauge!(
        "orbitpay_outbox_oldest_age_seconds",
        Unit::Seconds,
        "Age of the oldest delivery still owed, by the database clock."
    );
    describe_gauge!(
        "orbitpay_db_pool_connections",
        "Pooled database connections by state (in_use, idle) and the pool's max."
    );
    describe_gauge!(
        "orbitpay_db_pool_waiting",
        "Tasks waiting for a pooled database connection."
    );
    describe_gauge!(
        "orbitpay_accounts",
        "Watched accounts by this instance's ingestion state (standby: another instance leads)."
    );
    describe_gauge!(
        "orbitpay_accounts_flagged",
        "Accounts with a retention gap or a network reset under their cursor."
    );
    describe_gauge!(
        "orbitpay_accounts_lag_seconds",
        Unit::Seconds,
        "Lag of the accounts this instance ingests: median, 99th percentile and worst (1)."
    );
    describe_gauge!(
        "orbitpay_stream_lag_seconds",
        Unit::Seconds,
        "How far ingestion of the account is behind the ledger (the worst \
         metrics.account_series accounts only)."
    );
    describe_gauge!(
        "orbitpay_webhook_dead_deliveries",
        "Webhook deliveries that ran out of attempts, awaiting an admin retry."
    );
    describe_counter!(
        "orbitpay_webhook_attempts_total",
        "Webhook POSTs by result: delivered, retry, dead, lease_lost."
    );
    describe_histogram!(
        "orbitpay_webhook_attempt_duration_seconds",
        Unit::Seconds,
        "Webhook POST durations, connect to last byte."
    );
    describe_gauge!(
        "orbitpay_stream_cursor_ledger",
        "Ledger of the last durably handled record of the account (the worst \
         metrics.account_series accounts only)."
    );
    describe_counter!(
        "orbitpay_stream_records_total",
        "Records this instance's followers handed to the matcher."
    );
    describe_counter!(
        "orbitpay_stream_reconnects_total",
        "Stream reconnects of this instance's followers."
    );
    describe_counter!(
        "orbitpay_stream_stalls_total",
        "Streams that went silent past the stall bound."
    );
    describe_counter!(
        "orbitpay_stream_errors_total",
        "Source failures of this instance's followers."
    );
    describe_counter!(
        "orbitpay_stream_gaps_detected_total",
        "Retention gaps the followers detected."
    );
    describe_gauge!(
        "orbitpay_alive",
        "1 while the liveness check behind the systemd watchdog passes."
    );
    describe_counter!(
        "orbitpay_watchdog_withheld_total",
        "Watchdog pings withheld because the liveness check failed."
    );
    describe_counter!(
        "orbitpay_leadership_changes_total",
        "Times this instance took or lost the lead of an account."
    );
    describe_histogram!(
        "orbitpay_admin_request_duration_seconds",
        Unit::Seconds,
        "Admin socket request durations by route and status code."
    );
}

/// Serves `GET /metrics` on a loopback TCP address until `shutdown`.
pub async fn serve_tcp(
    addr: SocketAddr,
    handle: PrometheusHandle,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    handle.render(),
                )
            }
        }),
    );
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "metrics listener failed");
        }
    });
    tracing::info!(listen = %local, "serving /metrics over TCP");
    Ok((local, task))
}

/// Refreshes the periodic gauges, runs the recorder's upkeep, and publishes the outbox depth
/// (for the `STATUS=` line). Returns on `shutdown`.
pub async fn run_refresher(
    pool: DbPool,
    board: Arc<StatusBoard>,
    interval: Duration,
    account_series: usize,
    handle: PrometheusHandle,
    outbox: watch::Sender<Option<OutboxDepth>>,
    shutdown: CancellationToken,
) {
    let mut account_metrics = accounts::AccountMetrics::new(account_series);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        refresh_pool(&pool);
        account_metrics.refresh(&board);
        // Bounded: a slow database must not pile refreshes up.
        match tokio::time::timeout(interval, refresh_db(&pool)).await {
            Ok(Ok(depth)) => {
                let _ = outbox.send(Some(depth));
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "metrics refresh from the database failed"),
            Err(_) => tracing::warn!("metrics refresh from the database timed out"),
        }
        handle.run_upkeep();
    }
}

/// Sessions by status, unmatched by reason, unresolved unreadable records, outbox depth. Every label value is set (0 when
/// absent) so a status that empties does not keep its last count.
pub async fn refresh_db(pool: &DbPool) -> anyhow::Result<OutboxDepth> {
    use orbitpay_store::stats;
    let mut conn = pool.get().await?;
    for (status, n) in stats::session_counts(&mut conn).await? {
        metrics::gauge!("orbitpay_sessions", "status" => status.as_str()).set(n as f64);
    }
    for (reason, n) in stats::unmatched_counts(&mut conn).await? {
        metrics::gauge!("orbitpay_unmatched_payments", "reason" => reason).set(n as f64);
    }
    let depth = orbitpay_store::outbox::depth(&mut conn).await?;
    let unreadable = orbitpay_store::unreadable::count_unresolved(&mut conn).await?;
    metrics::gauge!("orbitpay_unreadable_records").set(unreadable as f64);
    metrics::gauge!("orbitpay_outbox_depth").set(depth.undelivered as f64);
    metrics::gauge!("orbitpay_outbox_oldest_age_seconds").set(depth.oldest_age_seconds);
    metrics::gauge!("orbitpay_webhook_dead_deliveries").set(depth.dead as f64);
    Ok(depth)
}

pub fn refresh_pool(pool: &DbPool) {
    let status = pool.status();
    let in_use = status.size.saturating_sub(status.available);
    metrics::gauge!("orbitpay_db_pool_connections", "state" => "in_use").set(in_use as f64);
    metrics::gauge!("orbitpay_db_pool_connections", "state" => "idle").set(status.available as f64);
    metrics::gauge!("orbitpay_db_pool_connections", "state" => "max").set(status.max_size as f64);
    metrics::gauge!("orbitpay_db_pool_waiting").set(status.waiting as f64);
}
