//! Session queries.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Jsonb, Nullable, Numeric, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use orbitpay_core::{AccountId, Reference};
use uuid::Uuid;

use crate::StoreError;
use crate::models::{NewSession, NewSessionRow, Session, SessionRow};
use crate::numeric::U64Numeric;
use crate::schema::sessions;

const INSERT_SESSION: &str = "INSERT INTO sessions
        (id, account, reference, asset, amount, expires_at, metadata, order_id, webhook_url)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (account, reference) DO NOTHING
    RETURNING id, account, reference, asset, amount, amount_received, status,
        processing_tx_hash, processing_started_at, expires_at, metadata, order_id, webhook_url,
        created_at, updated_at, version, claim_source";

/// Collisions in a 64-bit space are rare; eight in a row means the generator
/// is broken, not unlucky.
const REFERENCE_ATTEMPTS: u32 = 8;

/// Creates a session under a fresh random reference, drawing again when the
/// account already uses it.
///
/// `ON CONFLICT DO NOTHING` rather than catching the unique violation: the
/// latter would abort a surrounding transaction. Under READ COMMITTED a
/// concurrent insert of the same reference makes this wait and then draw
/// again; under REPEATABLE READ it fails with a retryable serialization error.
pub async fn insert(conn: &mut AsyncPgConnection, new: &NewSession) -> Result<Session, StoreError> {
    for _ in 0..REFERENCE_ATTEMPTS {
        let row = NewSessionRow {
            id: Uuid::now_v7(),
            account: new.account.to_string(),
            reference: U64Numeric(random_reference()),
            asset: new.asset.to_string(),
            amount: new.amount.stroops(),
            expires_at: new.expires_at,
            metadata: new.metadata.clone(),
            order_id: new.order_id.clone(),
            webhook_url: new.webhook_url.clone(),
        };
        // A constant statement (diesel's own insert with nullable values is prepared anew on
        // every call): session creation is on the admin API's hot path.
        let inserted: Option<SessionRow> = crate::prepared::prepared(INSERT_SESSION)
            .bind::<diesel::sql_types::Uuid, _>(row.id)
            .bind::<Text, _>(&row.account)
            .bind::<Numeric, _>(&row.reference)
            .bind::<Text, _>(&row.asset)
            .bind::<BigInt, _>(row.amount)
            .bind::<Timestamptz, _>(row.expires_at)
            .bind::<Jsonb, _>(&row.metadata)
            .bind::<Nullable<Text>, _>(&row.order_id)
            .bind::<Nullable<Text>, _>(&row.webhook_url)
            .get_result(conn)
            .await
            .optional()?;
        if let Some(row) = inserted {
            return Session::try_from(row);
        }
    }
    Err(StoreError::ReferenceSpaceExhausted {
        attempts: REFERENCE_ATTEMPTS,
    })
}

/// Inserts a session with a caller-chosen reference (imports, tests). A taken
/// reference is a unique violation on `sessions_account_reference_key`.
pub async fn insert_with_reference(
    conn: &mut AsyncPgConnection,
    new: &NewSession,
    reference: Reference,
) -> Result<Session, StoreError> {
    let row = NewSessionRow {
        id: Uuid::now_v7(),
        account: new.account.to_string(),
        reference: reference.into(),
        asset: new.asset.to_string(),
        amount: new.amount.stroops(),
        expires_at: new.expires_at,
        metadata: new.metadata.clone(),
        order_id: new.order_id.clone(),
        webhook_url: new.webhook_url.clone(),
    };
    let row = diesel::insert_into(sessions::table)
        .values(&row)
        .returning(SessionRow::as_returning())
        .get_result(conn)
        .await?;
    Session::try_from(row)
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<Session>, StoreError> {
    sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(Session::try_from)
        .transpose()
}

/// The session a payment to `account` carrying `reference` is meant for.
pub async fn find_by_reference(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
    reference: Reference,
) -> Result<Option<Session>, StoreError> {
    sessions::table
        .filter(sessions::account.eq(account.to_string()))
        .filter(sessions::reference.eq(U64Numeric::from(reference)))
        .select(SessionRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(Session::try_from)
        .transpose()
}

/// Locks a session by id until the transaction ends.
///
/// `FOR NO KEY UPDATE`, not `FOR UPDATE`: inserting a payment or outbox event that references
/// the session takes a KEY SHARE lock, which `FOR UPDATE` would block.
pub async fn lock(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<Session>, StoreError> {
    sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .for_no_key_update()
        .first(conn)
        .await
        .optional()?
        .map(Session::try_from)
        .transpose()
}

/// Zero is avoided: some wallets treat memo id 0 as "no memo".
fn random_reference() -> u64 {
    rand::random_range(1..=u64::MAX)
}

/// Filters and page position for [`list`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub status: Option<orbitpay_core::SessionStatus>,
    pub order_id: Option<String>,
    /// Keyset cursor: the id of the last session of the previous page.
    pub after: Option<Uuid>,
    pub limit: i64,
}

/// Why [`list`] could not page.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The `after` cursor names no session.
    #[error("unknown cursor {0}")]
    UnknownCursor(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sessions newest first, `(created_at, id)` keyset paging (the index
/// `sessions_created_at_id_idx` serves both the order and the cursor).
pub async fn list(
    conn: &mut AsyncPgConnection,
    filter: &ListFilter,
) -> Result<Vec<Session>, ListError> {
    use crate::models::PgSessionStatus;

    let mut query = sessions::table
        .select(SessionRow::as_select())
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .limit(filter.limit)
        .into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(sessions::status.eq(PgSessionStatus(status)));
    }
    if let Some(order_id) = &filter.order_id {
        query = query.filter(sessions::order_id.eq(order_id.clone()));
    }
    if let Some(after) = filter.after {
        let created_at: chrono::DateTime<chrono::Utc> = sessions::table
            .find(after)
            .select(sessions::created_at)
            .first(conn)
            .await
            .optional()
            .map_err(StoreError::from)?
            .ok_or(ListError::UnknownCursor(after))?;
        query = query.filter(
            sessions::created_at.lt(created_at).or(sessions::created_at
                .eq(created_at)
                .and(sessions::id.lt(after))),
        );
    }
    let rows: Vec<SessionRow> = query.load(conn).await.map_err(StoreError::from)?;
    Ok(rows
        .into_iter()
        .map(Session::try_from)
        .collect::<Result<_, _>>()?)
}

/// What [`cancel`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    Cancelled(Box<Session>),
    NotFound,
    /// The session is in a state that cannot be cancelled; nothing changed.
    InvalidState(orbitpay_core::SessionStatus),
}

/// Cancels a pending session and writes `session.cancelled`, in one transaction (a savepoint
/// when the caller already opened one). The row is locked `FOR NO KEY UPDATE` and the move is
/// checked by [`SessionStatus::transition`](orbitpay_core::SessionStatus::transition).
pub async fn cancel(conn: &mut AsyncPgConnection, id: Uuid) -> Result<CancelOutcome, StoreError> {
    use crate::events::{EventData, SessionState};
    use crate::models::PgSessionStatus;
    use crate::outbox::{self, EventType};
    use diesel_async::AsyncConnection as _;
    use orbitpay_core::SessionStatus;

    conn.transaction(async |conn| {
        let Some(session) = lock(conn, id).await? else {
            return Ok(CancelOutcome::NotFound);
        };
        let Ok(next) = session.status.transition(SessionStatus::Cancelled) else {
            return Ok(CancelOutcome::InvalidState(session.status));
        };
        let row: SessionRow = diesel::update(sessions::table.find(id))
            .set(sessions::status.eq(PgSessionStatus(next)))
            .returning(SessionRow::as_returning())
            .get_result(conn)
            .await?;
        let session = Session::try_from(row)?;
        let data = EventData::from(SessionState::of(&session));
        outbox::insert_all(conn, &[data.event(EventType::SessionCancelled)]).await?;
        Ok(CancelOutcome::Cancelled(Box::new(session)))
    })
    .await
}

/// The database's clock (`now()`, the transaction's start): session expiry is computed from
/// it, so the expiry job and the API never disagree because of the daemon host's clock.
pub async fn database_now(
    conn: &mut AsyncPgConnection,
) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
    #[derive(QueryableByName)]
    struct Now {
        #[diesel(sql_type = Timestamptz)]
        now: chrono::DateTime<chrono::Utc>,
    }
    let row: Now = crate::prepared::prepared("SELECT now() AS now")
        .get_result(conn)
        .await?;
    Ok(row.now)
}
