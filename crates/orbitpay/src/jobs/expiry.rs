//! The expiry sweep: `pending` sessions past `expires_at` become `expired`.
//!
//! By ledger time: a session is expired only once its account's ingestion has handled every
//! payment whose ledger closed at or before its `expires_at`, so an on-time payment still on
//! its way (ingestion behind, the daemon down across the expiry) is credited, not turned late.
//! How far ingestion has got is asked of the ledger, against the stored cursor (or just before
//! an unreadable record still unresolved, whose payment is not handled yet): the first record
//! after it (everything that closed before it is handled), or, when there is none, the close
//! time of the ledger that same page is as of (`PaymentsPage::latest_ledger`, Horizon's
//! `Latest-Ledger` header). Never another request's latest ledger: behind a load balancer the
//! page may come from a node behind the one that answered it, and its empty page says nothing
//! about the ledgers only the other has. A quiet account therefore
//! expires on time; an account whose ingestion is behind (or a ledger that does not answer)
//! makes its sessions wait, and the run's notes (in `orbitpay status`) say how many and why.
//! The matcher does not wait for this sweep: a payment closed after the expiry is late at once.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use orbitpay_core::AccountId;
use orbitpay_horizon::LedgerSource;
use orbitpay_store::{DbPool, StoreError, with_retry};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::db_retry;
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
    // Close times of the ledgers pages were as of: the same for every account on one ledger.
    let mut closed_at: HashMap<u32, i64> = HashMap::new();
    for account in accounts {
        if stop.is_cancelled() {
            break;
        }
        let (cursor, (overdue, _)) = with_retry!(pool, db_retry(stop), |conn| async {
            let cursor = orbitpay_store::expiry::handled_up_to(conn, account).await?;
            let waiting = orbitpay_store::expiry::waiting(conn, account).await?;
            Ok::<_, StoreError>((cursor, waiting))
        })?;
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
        let through = match handled_through(source, account, cursor, &mut closed_at).await {
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
            let expired = with_retry!(pool, db_retry(stop), |conn| {
                orbitpay_store::expiry::expire_due(conn, account, through, BATCH)
            })?;
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
    closed_at: &mut HashMap<u32, i64>,
) -> Result<DateTime<Utc>, String> {
    let page = source
        .payments_page(account, cursor, 1)
        .await
        .map_err(|e| format!("the ledger source does not answer: {e}"))?;
    let secs = match page.records.first() {
        // Nothing after the cursor up to the ledger this page is as of: handled through its close.
        None => {
            let latest = page
                .latest_ledger
                .ok_or("the ledger source did not say which ledger its page is as of")?;
            match closed_at.get(&latest) {
                Some(&secs) => secs,
                None => {
                    let secs = source.ledger_closed_at(latest).await.map_err(|e| {
                        format!("the ledger source gives no close time for ledger {latest}: {e}")
                    })?;
                    closed_at.insert(latest, secs);
                    secs
                }
            }
        }
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
