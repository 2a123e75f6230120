//! Recovery of sessions stuck in `processing`: this job schedules and iterates; the matcher
//! looks each claim up and resolves it ([`Matcher::recover`]), settling a confirmed
//! transaction through the same front door as the stream. Two instances running this at once
//! may both look the same hash up; neither can settle twice (the settle's op-id dedupe and
//! `UNIQUE(tx_hash, session_id)`).

use std::time::Duration;

use orbitpay_matcher::Matcher;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::runs::Report;

#[derive(Debug, Clone)]
pub struct RecoverySettings {
    /// Claims older than this are recovered.
    pub after: Duration,
    /// At most this many lookups per run.
    pub batch: u32,
}

/// One run: every stuck claim (oldest first, at most `batch`), until done or `stop`.
pub async fn recover_stuck_sessions(
    matcher: &Matcher,
    settings: &RecoverySettings,
    stop: &CancellationToken,
) -> anyhow::Result<Report> {
    let stuck = matcher
        .stuck_claims(settings.after, settings.batch, stop)
        .await?;
    let mut report = Report::default();
    for (i, claim) in stuck.iter().enumerate() {
        if stop.is_cancelled() {
            break;
        }
        // One claim's error (the database refusing its row, retries run out) is that claim's:
        // it stays `processing` for the next run, and the others go on.
        let action = match matcher.recover(claim, stop).await {
            Ok(action) => action.as_str(),
            Err(e) => {
                error!(job = "recovery", session_id = %claim.session.id, tx_hash = %claim.claim.tx_hash,
                       action = "failed", error = %e, "could not resolve a stuck session; it waits for the next run");
                "failed"
            }
        };
        report.add(action, 1);
        if matches!(action, "settled" | "released") && i + 1 < stuck.len() {
            orbitpay_store::crash::point("recovery-mid");
        }
    }
    info!(
        job = "recovery",
        found = stuck.len(),
        settled = report.count("settled"),
        released = report.count("released"),
        unavailable = report.count("unavailable"),
        already_resolved = report.count("already_resolved"),
        failed = report.count("failed"),
        stopped = stop.is_cancelled(),
        "recovery run done"
    );
    Ok(report)
}
