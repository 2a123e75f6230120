//! Recovery of sessions stuck in `processing`.
//!
//! A claim older than `jobs.recovery_after` (by the database's clock) is looked up on the
//! ledger with no lock and no connection held, then resolved by the store under the row lock
//! ([`orbitpay_store::recovery::resolve`]), which re-checks everything: the stream, a client
//! report or another instance may have resolved it meanwhile. Two instances running this at
//! once may both look the same hash up; neither can settle twice (the stream's own settle,
//! with its op-id dedupe and `UNIQUE(tx_hash, session_id)`).
//!
//! An unavailable ledger (timeout, 5xx, 429) never releases a claim: the session stays
//! `processing` for the next run.

use std::time::Duration;

use orbitpay_horizon::{LedgerSource, TxLookup};
use orbitpay_store::DbPool;
use orbitpay_store::recovery::{self, Recovered, StuckClaim, Verdict};
use orbitpay_store::settlement::{Intent, Item};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

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
    pool: &DbPool,
    source: &dyn LedgerSource,
    settings: &RecoverySettings,
    stop: &CancellationToken,
) -> anyhow::Result<Report> {
    let stuck = {
        let mut conn = pool.get().await?;
        recovery::stuck_claims(&mut conn, settings.after, i64::from(settings.batch)).await?
    };
    let mut report = Report::default();
    for (i, claim) in stuck.iter().enumerate() {
        if stop.is_cancelled() {
            break;
        }
        let action = recover_one(pool, source, claim).await?;
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
        stopped = stop.is_cancelled(),
        "recovery run done"
    );
    Ok(report)
}

/// Looks the claim's transaction up and resolves the claim; returns the action taken.
pub async fn recover_one(
    pool: &DbPool,
    source: &dyn LedgerSource,
    claim: &StuckClaim,
) -> anyhow::Result<&'static str> {
    let session_id = claim.session.id;
    let tx_hash = claim.claim.tx_hash;
    let age_seconds = claim.age_seconds.round() as u64;
    // No connection is held across the ledger call.
    let lookup = source.lookup_transaction(&tx_hash).await;
    let records = match &lookup {
        TxLookup::Confirmed { records, .. } => records.as_slice(),
        TxLookup::Unavailable(error) => {
            info!(job = "recovery", session_id = %session_id, tx_hash = %tx_hash, action = "unavailable",
                  age_seconds, error = %error, "ledger unavailable; the claim stays for the next run");
            return Ok("unavailable");
        }
        _ => &[],
    };
    let intents: Vec<Intent> = records
        .iter()
        .map(|r| orbitpay_matcher::prepare::intent(r, &claim.session.account))
        .collect();
    let items: Vec<Item<'_>> = records
        .iter()
        .zip(&intents)
        .map(|(record, intent)| Item { record, intent })
        .collect();
    let verdict = match &lookup {
        TxLookup::Confirmed { .. } => Verdict::Confirmed(&items),
        TxLookup::Failed { .. } => Verdict::Gone {
            reason: "transaction failed on the ledger",
        },
        _ => Verdict::Gone {
            reason: "transaction not found on the ledger",
        },
    };
    if matches!(lookup, TxLookup::NotFound)
        && claim.claim.source == orbitpay_store::ClaimSource::Stream
    {
        // The stream delivered this transaction, so the ledger had it: past retention, or a
        // network reset. Releasing is still safe (the stream redelivers what it has not
        // settled), but it is worth a look.
        warn!(job = "recovery", session_id = %session_id, tx_hash = %tx_hash,
              "the ledger does not know a transaction the stream delivered; releasing its claim");
    }
    let recovered = {
        let mut conn = pool.get().await?;
        recovery::resolve(&mut conn, claim, verdict).await?
    };
    let action = recovered.action();
    match &recovered {
        Recovered::Settled(s) | Recovered::Released(s) => {
            info!(job = "recovery", session_id = %session_id, tx_hash = %tx_hash, action, age_seconds,
                  status = s.status.as_str(), claim_source = claim.claim.source.as_str(),
                  "recovered a stuck session")
        }
        Recovered::AlreadyResolved => {
            info!(job = "recovery", session_id = %session_id, tx_hash = %tx_hash, action, age_seconds,
                  "the claim was resolved meanwhile; nothing to do")
        }
    }
    Ok(action)
}
