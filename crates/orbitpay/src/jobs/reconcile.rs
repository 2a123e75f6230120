//! Reconciliation against the ledger's REST history.
//!
//! For each watched account, the payments of the last `jobs.reconcile_window` are paged from
//! the ledger source's REST API (never the stream, never moving the stream's cursor) up to the
//! stored cursor (what lies beyond it is the stream's still), and every record goes through
//! the matcher's idempotent path ([`orbitpay_matcher::Matcher::settle_again`]): one already
//! handled is a no-op; one the stream missed is handled now, with a WARN. Then the stored
//! unreadable records are read again by their token; one that reads now is settled the same
//! way and marked resolved.
//!
//! The window's start is a ledger estimated from the latest one at [`LEDGER_SECONDS`] per
//! ledger (never before the oldest ledger the source keeps): slower ledgers only widen it.
//!
//! Reconciliation covers only what the stream was meant to cover: never before where the
//! account's stream began (`stream_cursors.first_token`, see [`start_after`]). An account first
//! watched an hour ago has older history inside the window that was never the stream's to
//! handle; recording it as missed would make a WARN and an outbox event (a webhook) for every
//! payment an account received before orbitpay was installed on it.

use std::time::Duration;

use orbitpay_core::{AccountId, toid};
use orbitpay_horizon::{LedgerSource, source::token_of};
use orbitpay_matcher::Matcher;
use orbitpay_store::cursors::Span;
use orbitpay_store::settlement::Applied;
use orbitpay_store::{DbPool, with_retry};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::db_retry;
use super::runs::Report;

/// The ledger interval the window is converted with (Stellar's target close time).
pub const LEDGER_SECONDS: u64 = 5;

/// Records per page (Horizon's maximum).
const PAGE: u32 = 200;

/// Unreadable records re-read per account and run.
const UNREADABLE_PER_RUN: i64 = 100;

pub async fn reconcile(
    pool: &DbPool,
    source: &dyn LedgerSource,
    matcher: &Matcher,
    accounts: &[AccountId],
    window: Duration,
    stop: &CancellationToken,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let root = source.root().await?;
    let ledgers = u32::try_from(window.as_secs() / LEDGER_SECONDS).unwrap_or(u32::MAX);
    let start_ledger = root
        .latest_ledger
        .saturating_sub(ledgers)
        .max(root.elder_ledger);
    let window_start = toid::encode(start_ledger, 0, 0);
    for account in accounts {
        if stop.is_cancelled() {
            break;
        }
        // One account's error (Horizon failing its page, the database its row, the matcher's
        // bounded retries run out) is that account's: what it settled stays settled, it is
        // reconciled again next run, and the other accounts go on.
        let reconciled = reconcile_one(
            pool,
            source,
            matcher,
            account,
            window_start,
            &mut report,
            stop,
        )
        .await;
        if let Err(e) = reconciled {
            error!(job = "reconcile", account = %account, action = "failed", error = format!("{e:#}"),
                   "could not reconcile an account; it is reconciled again next run");
            report.add("failed", 1);
        }
    }
    info!(
        job = "reconcile",
        checked = report.count("checked"),
        already_handled = report.count("already_handled"),
        newly_handled = report.count("newly_handled"),
        unmatched = report.count("unmatched"),
        unreadable = report.count("unreadable"),
        unreadable_resolved = report.count("unreadable_resolved"),
        failed = report.count("failed"),
        "reconciliation run done"
    );
    Ok(report)
}

/// One account: its span's records, then its stored unreadable records.
async fn reconcile_one(
    pool: &DbPool,
    source: &dyn LedgerSource,
    matcher: &Matcher,
    account: &AccountId,
    window_start: i64,
    report: &mut Report,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let span = with_retry!(pool, db_retry(stop), |conn| {
        orbitpay_store::cursors::span(conn, account)
    })?;
    let Some(span) = span else { return Ok(()) };
    reconcile_account(
        source,
        matcher,
        account,
        start_after(window_start, span),
        span.current,
        report,
        stop,
    )
    .await?;
    retry_unreadable(pool, source, matcher, account, report, stop).await
}

/// The token reconciliation pages after: the window's start, or where the account's stream
/// began when that is later. A cursor row older than `first_token` has none (unknown), and
/// then the window alone bounds it: reaching too far only records real payments as unmatched,
/// while a guessed later start could hide a missed payment from every run.
fn start_after(window_start: i64, span: Span) -> i64 {
    span.first
        .map_or(window_start, |first| first.max(window_start))
}

/// Pages `account`'s records after `from` up to `cursor` through the matcher.
async fn reconcile_account(
    source: &dyn LedgerSource,
    matcher: &Matcher,
    account: &AccountId,
    from: i64,
    cursor: i64,
    report: &mut Report,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let mut after = from;
    while after < cursor && !stop.is_cancelled() {
        let page = source.payments_page(account, after, PAGE).await?;
        if page.records.is_empty() {
            break;
        }
        let mut readable = Vec::with_capacity(page.records.len());
        let mut reached_cursor = false;
        for r in page.records {
            let Some(token) = token_of(&r) else {
                // Nothing to resume after: the stream holds at such a record too.
                anyhow::bail!("{account}: a record without a paging token after {after}");
            };
            if token > cursor {
                reached_cursor = true;
                break;
            }
            after = token;
            report.add("checked", 1);
            match r {
                Ok(record) => readable.push(record),
                // The stream stored it, or will; `retry_unreadable` reads it again.
                Err(_) => report.add("unreadable", 1),
            }
        }
        let applied = matcher.settle_again(account, &readable).await?;
        for (record, applied) in readable.iter().zip(&applied) {
            count(report, account, record, applied, "the stream missed it");
        }
        if reached_cursor {
            break;
        }
    }
    Ok(())
}

async fn retry_unreadable(
    pool: &DbPool,
    source: &dyn LedgerSource,
    matcher: &Matcher,
    account: &AccountId,
    report: &mut Report,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let rows = with_retry!(pool, db_retry(stop), |conn| {
        orbitpay_store::unreadable::list_unresolved(conn, Some(account), UNREADABLE_PER_RUN)
    })?;
    for row in rows {
        if stop.is_cancelled() {
            break;
        }
        let token = row.paging_token;
        let page = source.payments_page(account, token - 1, 1).await?;
        let fetched = page.records.into_iter().next();
        match fetched {
            Some(Ok(record)) if record.op_id == token => {
                let applied = matcher
                    .settle_again(account, std::slice::from_ref(&record))
                    .await?;
                if let Some(applied) = applied.first() {
                    count(report, account, &record, applied, "it was unreadable");
                }
                with_retry!(pool, db_retry(stop), |conn| {
                    orbitpay_store::unreadable::mark_resolved(conn, account, token)
                })?;
                report.add("unreadable_resolved", 1);
                info!(job = "reconcile", account = %account, op_id = token, tx_hash = %record.tx_hash,
                      action = "unreadable_resolved", "an unreadable record reads now; settled and marked resolved");
            }
            other => {
                let why = match other {
                    Some(Err(e)) => e.reason,
                    Some(Ok(r)) => format!("the source returned {} instead", r.op_id),
                    None => "the source no longer returns it".to_owned(),
                };
                with_retry!(pool, db_retry(stop), |conn| {
                    orbitpay_store::unreadable::bump_attempt(conn, account, token, &why)
                })?;
                report.add("still_unreadable", 1);
                warn!(job = "reconcile", account = %account, op_id = token, error = %why,
                      action = "still_unreadable", "a stored unreadable record still does not read");
            }
        }
    }
    Ok(())
}

fn count(
    report: &mut Report,
    account: &AccountId,
    record: &orbitpay_core::LedgerRecord,
    applied: &Applied,
    why: &str,
) {
    match applied {
        Applied::AlreadyHandled => report.add("already_handled", 1),
        Applied::Skipped => report.add("not_a_credit", 1),
        Applied::Credited { session_id, .. } => {
            report.add("newly_handled", 1);
            warn!(job = "reconcile", account = %account, op_id = record.op_id, tx_hash = %record.tx_hash,
                  session_id = %session_id, action = "newly_handled", "credited a payment now: {why}");
        }
        Applied::Unmatched { reason, session_id } => {
            report.add("newly_handled", 1);
            report.add("unmatched", 1);
            warn!(job = "reconcile", account = %account, op_id = record.op_id, tx_hash = %record.tx_hash,
                  session_id = ?session_id, reason = reason.as_str(), action = "newly_handled",
                  "recorded an unmatched payment now: {why}");
        }
        Applied::RefundCompleted { refund_id } => {
            report.add("newly_handled", 1);
            report.add("refund_completed", 1);
            warn!(job = "reconcile", account = %account, op_id = record.op_id, tx_hash = %record.tx_hash,
                  refund_id = %refund_id, action = "newly_handled", "completed a refund now: {why}");
        }
        Applied::OutgoingRecorded { reason, .. } => {
            report.add("newly_handled", 1);
            report.add("outgoing_recorded", 1);
            warn!(job = "reconcile", account = %account, op_id = record.op_id, tx_hash = %record.tx_hash,
                  reason = reason.as_str(), action = "newly_handled",
                  "recorded a refund-like outgoing payment now: {why}");
        }
    }
}
