//! Claims left open (a crash between claim and settle, a client report whose confirmation a
//! restart or an unreachable ledger cut short), finished for the recovery job.
//!
//! The claim's transaction is looked up with no connection or lock held; the store then
//! resolves it in one transaction under the row locks ([`recovery::resolve`]), re-checking
//! everything: the stream, a client report or another instance may have resolved it
//! meanwhile. A confirmed transaction is settled as the stream would settle it, through the
//! same [`Prepared`] items and the same decision log. An unavailable ledger (timeout, 5xx,
//! 429) never releases a claim: the session stays `processing` for the next run.

use std::time::Duration;

use orbitpay_horizon::TxLookup;
use orbitpay_store::ClaimSource;
use orbitpay_store::recovery::{self, Recovered, StuckClaim, Verdict};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::settle::Prepared;
use crate::{MatchError, Matcher, with_retry};
use orbitpay_store::retry::Retry;

/// What recovering one claim did.
#[derive(Debug, Clone, PartialEq)]
pub enum RecoveryAction {
    /// The store resolved it (settled, released, or found it resolved already).
    Resolved(Box<Recovered>),
    /// The ledger did not answer: the claim stays for the next run.
    Unavailable,
}

impl RecoveryAction {
    /// The action's name in the job's report and `orbitpay_job_items_total{action}`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RecoveryAction::Resolved(r) => r.action(),
            RecoveryAction::Unavailable => "unavailable",
        }
    }
}

impl Matcher {
    /// Claims taken more than `older_than` ago by the database's clock, oldest first, at most
    /// `limit` (rows a settle holds right now are skipped).
    pub async fn stuck_claims(
        &self,
        older_than: Duration,
        limit: u32,
        stop: &CancellationToken,
    ) -> Result<Vec<StuckClaim>, MatchError> {
        with_retry!(self, self.for_job(stop), |conn| recovery::stuck_claims(
            conn,
            older_than,
            i64::from(limit)
        ))
    }

    /// Looks the claim's transaction up and resolves the claim. Database errors are retried
    /// a bounded number of times (`report_attempts`), so one claim cannot hold a run forever.
    pub async fn recover(
        &self,
        claim: &StuckClaim,
        stop: &CancellationToken,
    ) -> Result<RecoveryAction, MatchError> {
        let account = claim.session.account;
        let session_id = claim.session.id;
        let tx_hash = claim.claim.tx_hash;
        let age_seconds = claim.age_seconds.round() as u64;
        // No connection is held across the ledger call.
        let lookup = self.source.lookup_transaction(&tx_hash).await;
        let records = match &lookup {
            TxLookup::Confirmed { records, .. } => records.as_slice(),
            TxLookup::Unavailable(error) => {
                info!(job = "recovery", session_id = %session_id, tx_hash = %tx_hash, action = "unavailable",
                      age_seconds, error = %error, "ledger unavailable; the claim stays for the next run");
                return Ok(RecoveryAction::Unavailable);
            }
            TxLookup::Failed { .. } | TxLookup::NotFound => &[],
        };
        let prepared = Prepared::new(&account, records);
        let items = prepared.items();
        let verdict = match &lookup {
            TxLookup::Confirmed { .. } => Verdict::Confirmed(&items),
            TxLookup::Failed { .. } => Verdict::Gone {
                reason: "transaction failed on the ledger",
            },
            _ => Verdict::Gone {
                reason: "transaction not found on the ledger",
            },
        };
        if matches!(lookup, TxLookup::NotFound) && claim.claim.source == ClaimSource::Stream {
            // The stream delivered this transaction, so the ledger had it: past retention, or
            // a network reset. Releasing is still safe (the stream redelivers what it has not
            // settled), but it is worth a look.
            warn!(job = "recovery", session_id = %session_id, tx_hash = %tx_hash,
                  "the ledger does not know a transaction the stream delivered; releasing its claim");
        }
        let resolution = with_retry!(self, self.for_job(stop), |conn| recovery::resolve(
            conn, claim, verdict
        ))?;
        prepared.log(&account, &resolution.applied);
        let recovered = resolution.recovered;
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
        Ok(RecoveryAction::Resolved(Box::new(recovered)))
    }

    /// Retry policy of a job's calls: bounded like a client's, and ended by the job's stop.
    fn for_job<'a>(&'a self, stop: &'a CancellationToken) -> Retry<'a> {
        self.for_client().or_until(stop)
    }
}
