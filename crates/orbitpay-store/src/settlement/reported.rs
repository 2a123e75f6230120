//! The single-session transactions of the client-reported path: the claim a wallet's hash
//! takes, and its release.

use diesel_async::{AsyncConnection, AsyncPgConnection};
use orbitpay_core::{SessionStatus, TxHash};
use uuid::Uuid;

use super::work::Work;
use super::writes::{ClaimWrite, payment_exists, update_session};
use crate::StoreError;
use crate::events::{self, EventData, SessionChange};
use crate::models::{ClaimSource, Session};
use crate::outbox::{self, EventType};

/// The claim a client-reported transaction takes on a session.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportClaim {
    /// `processing` under this transaction (newly, or already from an earlier attempt).
    Claimed(Session),
    /// This transaction was already credited to the session.
    AlreadySettled(Session),
    /// Paid by another transaction, expired, cancelled, or claimed by another transaction.
    InvalidState(Session),
    NotFound,
}

pub async fn claim_reported(
    conn: &mut AsyncPgConnection,
    session_id: Uuid,
    tx_hash: TxHash,
) -> Result<ReportClaim, StoreError> {
    conn.transaction(async |conn| {
        let Some(session) = crate::sessions::lock(conn, session_id).await? else {
            return Ok(ReportClaim::NotFound);
        };
        if payment_exists(conn, tx_hash, session.id).await? {
            return Ok(ReportClaim::AlreadySettled(session));
        }
        Ok(match (session.status, session.processing) {
            (SessionStatus::Pending, _) => {
                let mut work = Work::empty(ClaimSource::ClientReport);
                let claimed = take_claim(conn, &session, tx_hash, &mut work).await?;
                work.flush(conn, &session.account).await?;
                ReportClaim::Claimed(claimed)
            }
            (SessionStatus::Processing, Some(claim)) if claim.tx_hash == tx_hash => {
                ReportClaim::Claimed(session)
            }
            _ => ReportClaim::InvalidState(session),
        })
    })
    .await
}

/// Returns a session claimed by `tx_hash` to `pending` (the transaction is not on the ledger,
/// or did not pay this session). A no-op when the claim is gone already.
pub async fn release_claim(
    conn: &mut AsyncPgConnection,
    session_id: Uuid,
    tx_hash: TxHash,
    reason: &str,
) -> Result<Option<Session>, StoreError> {
    conn.transaction(async |conn| {
        let Some(session) = crate::sessions::lock(conn, session_id).await? else {
            return Ok(None);
        };
        if session.processing.map(|c| c.tx_hash) != Some(tx_hash) {
            return Ok(None);
        }
        let status = session.status.transition(SessionStatus::Pending)?;
        let updated = update_session(
            conn,
            session.id,
            status,
            session.amount_received,
            ClaimWrite::Clear,
        )
        .await?;
        let data = EventData::from(events::Released {
            session: SessionChange::of(&updated),
            tx_hash: tx_hash.to_string(),
            reason: reason.to_owned(),
        });
        outbox::insert_all(conn, &[data.event(EventType::SessionReleased)]).await?;
        Ok(Some(updated))
    })
    .await
}

/// `pending -> processing` under a client-reported hash, returning the row as stored.
async fn take_claim(
    conn: &mut AsyncPgConnection,
    session: &Session,
    tx_hash: TxHash,
    work: &mut Work,
) -> Result<Session, StoreError> {
    let status = session.status.transition(SessionStatus::Processing)?;
    let updated = update_session(
        conn,
        session.id,
        status,
        session.amount_received,
        ClaimWrite::Take(tx_hash, work.source),
    )
    .await?;
    let data = events::Claimed {
        session: SessionChange::of(&updated),
        tx_hash: tx_hash.to_string(),
        claim_source: work.source.as_str().to_owned(),
    };
    work.emit(EventType::SessionProcessing, data);
    Ok(updated)
}
