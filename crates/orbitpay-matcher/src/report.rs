//! Client-reported transactions: the merchant's checkout learns the hash from the wallet
//! before Horizon streams it. Claim the session under that hash, confirm on the ledger within a
//! bounded wait, then settle through the same store transaction the stream uses.

use std::sync::Arc;
use std::time::Duration;

use orbitpay_core::{SessionStatus, TxHash};
use orbitpay_horizon::TxLookup;
use orbitpay_store::Session;
use orbitpay_store::settlement::{self, ReportClaim};
use tokio::time::Instant;
use tracing::{info, warn};
use uuid::Uuid;

use crate::settle::Prepared;
use crate::{MatchError, Matcher, with_retry};
use orbitpay_store::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub enum ReportOutcome {
    /// Confirmed and credited: `paid`, or `pending` again when it paid only part.
    Settled(Session),
    /// Not confirmed within the wait: still `processing`, finishing in the background (and by
    /// the recovery job at the latest). Other payments to the session are credited meanwhile.
    Processing(Session),
    /// The transaction is not on the ledger, failed, or did not pay this session: the claim is
    /// dropped and the session is `pending` again.
    Released(Session),
}

impl ReportOutcome {
    pub fn session(&self) -> &Session {
        match self {
            ReportOutcome::Settled(s)
            | ReportOutcome::Processing(s)
            | ReportOutcome::Released(s) => s,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            ReportOutcome::Settled(_) => "settled",
            ReportOutcome::Processing(_) => "processing",
            ReportOutcome::Released(_) => "released",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("session not found")]
    SessionNotFound,
    /// Paid by another transaction, expired, cancelled, or processing under another hash.
    #[error("session is {status}")]
    InvalidState { status: SessionStatus },
    #[error(transparent)]
    Match(#[from] MatchError),
}

impl From<StoreError> for ReportError {
    fn from(e: StoreError) -> Self {
        ReportError::Match(MatchError::from(e))
    }
}

enum Confirmation {
    Done(ReportOutcome),
    /// Horizon did not answer definitively before the deadline.
    Undecided(Session),
}

impl Matcher {
    /// Claims `session_id` for `tx_hash`, confirms it on the ledger for at most `wait`, and
    /// settles. Safe to call again with the same arguments: a second call finds the claim (or
    /// the payment) in place and neither charges nor transitions twice.
    pub async fn report_tx(
        self: &Arc<Self>,
        session_id: Uuid,
        tx_hash: TxHash,
        wait: Duration,
    ) -> Result<ReportOutcome, ReportError> {
        let claim = with_retry!(self, self.for_client(), |conn| settlement::claim_reported(
            conn, session_id, tx_hash
        ))?;
        let session = match claim {
            ReportClaim::NotFound => return Err(ReportError::SessionNotFound),
            ReportClaim::InvalidState(s) => {
                return Err(ReportError::InvalidState { status: s.status });
            }
            ReportClaim::AlreadySettled(s) => return Ok(ReportOutcome::Settled(s)),
            ReportClaim::Claimed(s) => s,
        };
        info!(session_id = %session_id, tx_hash = %tx_hash, "client-reported transaction claimed the session");
        orbitpay_store::crash::point("claim-committed");
        match self
            .confirm(session, tx_hash, Instant::now() + wait)
            .await?
        {
            Confirmation::Done(outcome) => Ok(outcome),
            Confirmation::Undecided(session) => {
                let matcher = self.clone();
                let deadline = Instant::now() + self.config.background_confirm;
                self.tasks.spawn(async move {
                    tokio::select! {
                        _ = matcher.shutdown.cancelled() => {}
                        result = matcher.confirm(session, tx_hash, deadline) => match result {
                            Ok(Confirmation::Done(outcome)) => {
                                info!(session_id = %session_id, tx_hash = %tx_hash, outcome = outcome.name(),
                                      "background confirmation decided the claim");
                            }
                            Ok(Confirmation::Undecided(_)) => {
                                warn!(session_id = %session_id, tx_hash = %tx_hash,
                                      "the ledger did not answer within the background confirmation; the claim stays for the recovery job");
                            }
                            Err(e) => {
                                warn!(session_id = %session_id, tx_hash = %tx_hash, error = %e,
                                      "background confirmation failed; the recovery job will finish it");
                            }
                        }
                    }
                });
                let current = self.current(session_id).await?;
                Ok(ReportOutcome::Processing(current))
            }
        }
    }

    /// Polls the ledger until it says something definite or `deadline` passes. A `NotFound`
    /// is believed only at the deadline (Horizon may not have ingested the ledger yet), and
    /// then releases the claim; `Unavailable` never does.
    async fn confirm(
        &self,
        session: Session,
        tx_hash: TxHash,
        deadline: Instant,
    ) -> Result<Confirmation, MatchError> {
        loop {
            let lookup = self.source.lookup_transaction(&tx_hash).await;
            let last_chance = Instant::now() + self.config.confirm_poll > deadline;
            match lookup {
                TxLookup::Confirmed { records, .. } => {
                    return self.settle_reported(&session, tx_hash, &records).await;
                }
                TxLookup::Failed { .. } => {
                    return self
                        .release(&session, tx_hash, "transaction failed on the ledger")
                        .await;
                }
                TxLookup::NotFound if last_chance => {
                    return self
                        .release(&session, tx_hash, "transaction not found on the ledger")
                        .await;
                }
                TxLookup::Unavailable(_) if last_chance => {
                    return Ok(Confirmation::Undecided(self.current(session.id).await?));
                }
                TxLookup::NotFound | TxLookup::Unavailable(_) => {
                    tokio::time::sleep(self.config.confirm_poll).await
                }
            }
        }
    }

    async fn settle_reported(
        &self,
        session: &Session,
        tx_hash: TxHash,
        records: &[orbitpay_core::LedgerRecord],
    ) -> Result<Confirmation, MatchError> {
        let account = session.account;
        // No cursor: the stream owns it, and will find these operations already handled.
        let prepared = Prepared::new(&account, records);
        self.settle(&account, &prepared, None, self.for_client())
            .await?;
        let current = self.current(session.id).await?;
        // Our operations settled the claim if they paid this session (under either hash of a
        // fee-bump); a claim still standing means the transaction pays someone else.
        if current.processing.is_some_and(|c| c.tx_hash == tx_hash) {
            return self
                .release(&current, tx_hash, "transaction does not pay this session")
                .await;
        }
        Ok(Confirmation::Done(ReportOutcome::Settled(current)))
    }

    async fn release(
        &self,
        session: &Session,
        tx_hash: TxHash,
        reason: &str,
    ) -> Result<Confirmation, MatchError> {
        let released = with_retry!(self, self.for_client(), |conn| settlement::release_claim(
            conn, session.id, tx_hash, reason
        ))?;
        info!(session_id = %session.id, tx_hash = %tx_hash, reason, "claim released");
        let current = match released {
            Some(s) => s,
            None => self.current(session.id).await?,
        };
        Ok(Confirmation::Done(ReportOutcome::Released(current)))
    }

    async fn current(&self, session_id: Uuid) -> Result<Session, MatchError> {
        let found = with_retry!(self, self.for_client(), |conn| {
            orbitpay_store::sessions::find(conn, session_id)
        })?;
        found.ok_or_else(|| {
            MatchError::Fatal(orbitpay_store::StoreError::Corrupt(format!(
                "session {session_id} vanished"
            )))
        })
    }
}
