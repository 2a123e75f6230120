//! The expiry sweep: `pending` sessions past `expires_at` become `expired`.
//!
//! By ledger time: a session is expired only once its account's ingestion has handled every
//! payment whose ledger closed at or before its `expires_at`, so an on-time payment still on
//! its way (ingestion behind, the daemon down across the expiry) is credited, not turned late.
//! How far ingestion has got is asked of the ledger, against the stored cursor (or just before
//! an unreadable record still unresolved, whose payment is not handled yet): the first record
//! after it (everything that closed before it is handled), or, when there is none, the close
//! time of the ledger's latest ledger (read first). A quiet account therefore
//! expires on time; an account whose ingestion is behind (or a ledger that does not answer)
//! makes its sessions wait, and the run's notes (in `orbitpay status`) say how many and why.
//! The matcher does not wait for this sweep: a payment closed after the expiry is late at once.

use chrono::{DateTime, Utc};
use orbitpay_core::AccountId;
use orbitpay_horizon::{LedgerSource, RootInfo, SourceError};
use orbitpay_store::DbPool;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::runs::Report;

/// Sessions per expiring transaction.
const BATCH: i64 = 500;

/// One sweep over `accounts`.
pub async fn expire_sessions(
    pool: &DbPool,
    source: &dyn LedgerSource,
    accounts: &[AccountId],
    stop: &CancellationToken,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    // Read once, before any account's page: whatever a page then finds missing closed after
    // this ledger.
    let mut root: Option<Result<RootInfo, SourceError>> = None;
    for account in accounts {
        if stop.is_cancelled() {
            break;
        }
        let (cursor, (overdue, _)) = {
            let mut conn = pool.get().await?;
            (
                orbitpay_store::expiry::handled_up_to(&mut conn, account).await?,
                orbitpay_store::expiry::waiting(&mut conn, account).await?,
            )
        };
        if overdue == 0 {
            continue;
        }
        let Some(cursor) = cursor else {
            report.add("waiting", overdue as u64);
            report.notes.push(format!(
                "{account}: {overdue} sessions past expiry wait: ingestion has not started"
            ));
            continue;
        };
        if root.is_none() {
            root = Some(source.root().await);
        }
        let through = match handled_through(source, account, cursor, root.as_ref()).await {
            Ok(t) => t,
            Err(why) => {
                warn!(job = "expiry", account = %account, error = %why, "cannot tell how far ingestion got; sessions wait");
                report.add("waiting", overdue as u64);
                report.notes.push(format!(
                    "{account}: {overdue} sessions past expiry wait: {why}"
                ));
                continue;
            }
        };
        let mut expired_here = 0u64;
        loop {
            let expired = {
                let mut conn = pool.get().await?;
                orbitpay_store::expiry::expire_due(&mut conn, account, through, BATCH).await?
            };
            for s in &expired {
                info!(job = "expiry", account = %account, session_id = %s.id, action = "expired",
                      expires_at = %s.expires_at, "session expired");
            }
            expired_here += expired.len() as u64;
            if (expired.len() as i64) < BATCH || stop.is_cancelled() {
                break;
            }
        }
        report.add("expired", expired_here);
        let waiting = (overdue as u64).saturating_sub(expired_here);
        if waiting > 0 {
            report.add("waiting", waiting);
            report.notes.push(format!(
                "{account}: {waiting} sessions past expiry wait: ingestion has handled payments closed through {through}"
            ));
        }
    }
    info!(
        job = "expiry",
        expired = report.count("expired"),
        waiting = report.count("waiting"),
        "expiry run done"
    );
    Ok(report)
}

/// Every payment to `account` whose ledger closed at or before the returned time is handled.
async fn handled_through(
    source: &dyn LedgerSource,
    account: &AccountId,
    cursor: i64,
    root: Option<&Result<RootInfo, SourceError>>,
) -> Result<DateTime<Utc>, String> {
    let root = match root {
        Some(Ok(root)) => root,
        Some(Err(e)) => return Err(format!("the ledger source does not answer: {e}")),
        None => return Err("the ledger source was not asked".into()),
    };
    let page = source
        .payments_page(account, cursor, 1)
        .await
        .map_err(|e| format!("the ledger source does not answer: {e}"))?;
    let secs = match page.records.first() {
        // Nothing after the cursor up to the latest ledger: handled through its close.
        None => root
            .latest_closed_at
            .ok_or("the ledger source gave no close time for its latest ledger")?,
        // Not handled yet: everything that closed before it is.
        Some(Ok(first)) => {
            first
                .closed_at
                .ok_or("the next record to handle has no close time")?
                - 1
        }
        Some(Err(_)) => {
            return Err(format!(
                "the next record to handle (after token {cursor}) is unreadable"
            ));
        }
    };
    DateTime::from_timestamp(secs, 0).ok_or_else(|| format!("close time {secs} out of range"))
}
