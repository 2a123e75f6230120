//! The expiry sweep's transaction: `pending` sessions past `expires_at` become `expired`, with
//! their `session.expired` events, in one batched statement per call.
//!
//! The caller says how far the account's ingestion has got in ledger time (`handled_through`:
//! every payment whose ledger closed at or before it has been handled). Only sessions whose
//! expiry is within that are expired, so no on-time payment can still be on its way. A session
//! in `processing` is never touched: it resolves first, and is expired by a later sweep if it
//! went back to `pending`. Where the sweep reads from is [`handled_up_to`]: never past an
//! unreadable record still unresolved.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use orbitpay_core::{AccountId, SessionStatus};

use crate::events::{EventData, SessionState};
use crate::models::{PgSessionStatus, Session, SessionRow};
use crate::outbox::{self, EventType};
use crate::schema::{sessions, unreadable_records};
use crate::{StoreError, cursors};

/// The token after which nothing of `account` is handled, as the sweep must see it: the stored
/// cursor, or just before the oldest unresolved unreadable record when that is earlier. The
/// cursor moved past an unreadable record when it was stored, yet whatever it paid is not
/// handled until the reconciliation job reads and credits it: a sweep that took its bound from
/// the cursor would expire a session whose on-time payment is sitting in `unreadable_records`.
/// `None` when ingestion has not started.
pub async fn handled_up_to(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
) -> Result<Option<i64>, StoreError> {
    let cursor = cursors::get(conn, account).await?;
    let unread: Option<i64> = unreadable_records::table
        .filter(unreadable_records::account.eq(account.to_string()))
        .filter(unreadable_records::resolved_at.is_null())
        .select(diesel::dsl::min(unreadable_records::paging_token))
        .get_result(conn)
        .await?;
    Ok(match (cursor, unread) {
        (Some(cursor), Some(token)) => Some(cursor.min(token - 1)),
        (cursor, _) => cursor,
    })
}

/// Expires at most `batch` sessions of `account` whose `expires_at` is at or before
/// `handled_through` and before the database's `now()`, oldest expiry first, with their
/// events, in one transaction. Rows another transaction holds (a credit being settled) are
/// skipped this time. Returns the expired sessions.
pub async fn expire_due(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
    handled_through: DateTime<Utc>,
    batch: i64,
) -> Result<Vec<Session>, StoreError> {
    conn.transaction(async |conn| {
        let due: Vec<uuid::Uuid> = sessions::table
            .filter(sessions::account.eq(account.to_string()))
            .filter(sessions::status.eq(PgSessionStatus(SessionStatus::Pending)))
            .filter(sessions::expires_at.le(handled_through))
            .filter(sessions::expires_at.lt(diesel::dsl::now))
            .order(sessions::expires_at.asc())
            .limit(batch.max(1))
            .select(sessions::id)
            .for_no_key_update()
            .skip_locked()
            .load(conn)
            .await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        expire_pending(conn, &due).await
    })
    .await
}

/// Expires those of `ids` that are still `pending`, each with its `session.expired` event, inside
/// the caller's transaction (which holds their rows): the one expiry write, for the sweep and
/// for an account removed with `expire_open`.
pub(crate) async fn expire_pending(
    conn: &mut AsyncPgConnection,
    ids: &[uuid::Uuid],
) -> Result<Vec<Session>, StoreError> {
    // The one legal move, checked where every move is.
    SessionStatus::Pending.transition(SessionStatus::Expired)?;
    let rows: Vec<SessionRow> = diesel::update(sessions::table)
        .filter(sessions::id.eq_any(ids))
        .filter(sessions::status.eq(PgSessionStatus(SessionStatus::Pending)))
        .set(sessions::status.eq(PgSessionStatus(SessionStatus::Expired)))
        .returning(SessionRow::as_returning())
        .get_results(conn)
        .await?;
    let expired: Vec<Session> = rows
        .into_iter()
        .map(Session::try_from)
        .collect::<Result<_, _>>()?;
    let events: Vec<_> = expired
        .iter()
        .map(|s| EventData::from(SessionState::of(s)).event(EventType::SessionExpired))
        .collect();
    outbox::insert_all(conn, &events).await?;
    Ok(expired)
}

/// Pending sessions of `account` past `expires_at` by the database's clock that the sweep
/// cannot expire yet (ingestion has not passed their expiry): how many, and the oldest expiry.
pub async fn waiting(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
    use diesel::dsl::{count_star, min};
    Ok(sessions::table
        .filter(sessions::account.eq(account.to_string()))
        .filter(sessions::status.eq(PgSessionStatus(SessionStatus::Pending)))
        .filter(sessions::expires_at.lt(diesel::dsl::now))
        .select((count_star(), min(sessions::expires_at)))
        .get_result(conn)
        .await?)
}
