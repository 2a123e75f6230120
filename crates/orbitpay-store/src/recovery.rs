//! Recovery of claims left open: a `processing` session whose claim is older than the
//! recovery bound, by the database's clock (a crash between claim and settle, a client report
//! whose confirmation was cut short by a restart or an unreachable ledger).
//!
//! The job asks the ledger about the claim's transaction with no lock held, then decides here,
//! in one transaction, under the row lock: whatever happened meanwhile (the stream settled it,
//! a client released it, another instance recovered it) is seen and respected. A confirmed
//! transaction goes through [`settlement::settle`], the very function the stream uses, so the
//! op-id dedupe and `UNIQUE(tx_hash, session_id)` make a concurrent redelivery or a second
//! instance harmless.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Double, Interval};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use orbitpay_core::{SessionStatus, TxHash};
use uuid::Uuid;

use crate::events::{self, EventData, SessionState};
use crate::models::{PgSessionStatus, ProcessingClaim, Session, SessionRow};
use crate::outbox::{self, EventType};
use crate::schema::sessions;
use crate::settlement::{self, Applied, Item};
use crate::{StoreError, interval};

/// A claim older than the recovery bound.
#[derive(Debug, Clone, PartialEq)]
pub struct StuckClaim {
    pub session: Session,
    pub claim: ProcessingClaim,
    /// Since the claim was taken, by the database's clock.
    pub age_seconds: f64,
}

/// Claims taken more than `older_than` ago by the database's clock, oldest first, at most
/// `limit`. Rows a transaction holds right now (a settle in flight) are skipped: they are
/// being resolved already.
pub async fn stuck_claims(
    conn: &mut AsyncPgConnection,
    older_than: Duration,
    limit: i64,
) -> Result<Vec<StuckClaim>, StoreError> {
    use diesel::dsl::sql;
    let rows: Vec<(SessionRow, f64)> = sessions::table
        .filter(sessions::status.eq(PgSessionStatus(SessionStatus::Processing)))
        .filter(
            sql::<diesel::sql_types::Bool>("processing_started_at < now() - ")
                .bind::<Interval, _>(interval(older_than)),
        )
        .order(sessions::processing_started_at.asc())
        .limit(limit.max(1))
        .select((
            SessionRow::as_select(),
            sql::<Double>("EXTRACT(EPOCH FROM now() - processing_started_at)::float8"),
        ))
        .for_no_key_update()
        .skip_locked()
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|(row, age_seconds)| {
            let session = Session::try_from(row)?;
            let claim = session.processing.ok_or_else(|| {
                StoreError::Corrupt(format!("processing session {} without a claim", session.id))
            })?;
            Ok(StuckClaim {
                session,
                claim,
                age_seconds,
            })
        })
        .collect()
}

/// What the ledger said about the claim's transaction, as the job hands it over.
#[derive(Debug, Clone, Copy)]
pub enum Verdict<'a> {
    /// On the ledger and successful: these are its operations (with their intents).
    Confirmed(&'a [Item<'a>]),
    /// Not on the ledger, or failed: nothing can pay under this claim.
    Gone { reason: &'a str },
}

/// What recovery did to one session.
#[derive(Debug, Clone, PartialEq)]
pub enum Recovered {
    /// The transaction paid the session: `paid`, or `pending` when still short.
    Settled(Session),
    /// The claim was dropped (transaction unknown, failed, or paying something else):
    /// `pending` again, open to a real payment.
    Released(Session),
    /// The claim was gone before we took the lock (the stream, a client report or another
    /// instance resolved it): nothing written here. A confirmed transaction's operations still
    /// went through settle, which found them handled or credited them as the stream would.
    AlreadyResolved,
}

impl Recovered {
    pub fn action(&self) -> &'static str {
        match self {
            Recovered::Settled(_) => "settled",
            Recovered::Released(_) => "released",
            Recovered::AlreadyResolved => "already_resolved",
        }
    }
}

/// What [`resolve`] did: to the stuck session, and to each item of a confirmed transaction
/// (in order; none when the transaction is gone), for the caller to log and count.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub recovered: Recovered,
    pub applied: Vec<Applied>,
}

/// Resolves the claim `stuck` names, in one transaction, re-checked under the row lock. Writes
/// `session.recovered` beside the usual events (`session.paid`, `session.partially_paid`,
/// `session.released`) when it changed the session.
pub async fn resolve(
    conn: &mut AsyncPgConnection,
    stuck: &StuckClaim,
    verdict: Verdict<'_>,
) -> Result<Resolution, StoreError> {
    let session_id = stuck.session.id;
    let tx_hash = stuck.claim.tx_hash;
    conn.transaction(async |conn| {
        let mut applied = Vec::new();
        if let Verdict::Confirmed(items) = verdict {
            // The stream's own settle (a savepoint inside this transaction), without the
            // cursor. It locks every session the transaction pays and the stuck one in one
            // statement, in reference order, as a stream batch does: the lock below then finds
            // the row held already.
            let account = &stuck.session.account;
            let also = Some(stuck.session.reference);
            applied = settlement::settle_locking(conn, account, items, None, also)
                .await?
                .applied;
        }
        let settled_here = applied
            .iter()
            .any(|a| matches!(a, Applied::Credited { session_id: s, .. } if *s == session_id));
        let recovered = match crate::sessions::lock(conn, session_id).await? {
            None => Recovered::AlreadyResolved,
            Some(session) if session.processing.is_some_and(|c| c.tx_hash == tx_hash) => {
                let reason = match verdict {
                    Verdict::Confirmed(_) => "transaction does not pay this session",
                    Verdict::Gone { reason } => reason,
                };
                match settlement::release_claim(conn, session_id, tx_hash, reason).await? {
                    Some(released) => Recovered::Released(released),
                    None => Recovered::AlreadyResolved,
                }
            }
            Some(session) if settled_here => Recovered::Settled(session),
            Some(_) => Recovered::AlreadyResolved,
        };
        if let Recovered::Settled(s) | Recovered::Released(s) = &recovered {
            let data = EventData::from(events::Recovered {
                session: SessionState::of(s),
                tx_hash: tx_hash.to_string(),
                action: recovered.action().to_owned(),
                claim_source: stuck.claim.source.as_str().to_owned(),
                claim_age_seconds: stuck.age_seconds.round(),
            });
            outbox::insert_all(conn, &[data.event(EventType::SessionRecovered)]).await?;
        }
        Ok(Resolution { recovered, applied })
    })
    .await
}

/// For tests and tools: the claim of one session as [`stuck_claims`] would list it.
pub async fn claim_of(
    conn: &mut AsyncPgConnection,
    session_id: Uuid,
    tx_hash: TxHash,
) -> Result<Option<StuckClaim>, StoreError> {
    let Some(session) = crate::sessions::find(conn, session_id).await? else {
        return Ok(None);
    };
    Ok(session
        .processing
        .filter(|c| c.tx_hash == tx_hash)
        .map(|claim| StuckClaim {
            session: session.clone(),
            claim,
            age_seconds: 0.0,
        }))
}
