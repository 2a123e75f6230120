//! Ledger records that stayed unreadable on every read: stored with the cursor move that
//! passes them, so no record is ever passed without a trace, and kept until the
//! reconciliation job reads them again and marks them resolved.

use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use orbitpay_core::AccountId;

use crate::models::{NewUnreadableRecord, UnreadableRecordRow};
use crate::schema::unreadable_records;
use crate::{StoreError, cursors};

/// Raw bytes kept of one record (the table's CHECK says the same).
pub const MAX_RAW_BYTES: usize = 64 << 10;

/// Most rows one listing returns.
pub const MAX_LIST: i64 = 1000;

/// Inserts the record, or, when it is already stored (a redelivery, another instance), adds
/// the attempts and moves `last_seen`. Runs in the caller's transaction.
pub async fn record(
    conn: &mut AsyncPgConnection,
    new: &NewUnreadableRecord,
) -> Result<(), StoreError> {
    let mut new = new.clone();
    if new.raw.len() > MAX_RAW_BYTES {
        new.raw.truncate(MAX_RAW_BYTES);
        new.raw_truncated = true;
    }
    diesel::insert_into(unreadable_records::table)
        .values(&new)
        .on_conflict((
            unreadable_records::account,
            unreadable_records::paging_token,
        ))
        .do_update()
        .set((
            unreadable_records::attempts
                .eq(unreadable_records::attempts + excluded(unreadable_records::attempts)),
            unreadable_records::parse_error.eq(excluded(unreadable_records::parse_error)),
            unreadable_records::last_seen.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores the record and moves the account's cursor to its token, in one transaction: the
/// cursor never passes a record that is not stored. Returns the cursor now stored.
pub async fn record_and_advance(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
    new: &NewUnreadableRecord,
) -> Result<i64, StoreError> {
    debug_assert_eq!(new.account, account.to_string());
    conn.transaction(async |conn| {
        record(conn, new).await?;
        cursors::set(conn, account, new.paging_token).await
    })
    .await
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
    paging_token: i64,
) -> Result<Option<UnreadableRecordRow>, StoreError> {
    Ok(unreadable_records::table
        .find((account.to_string(), paging_token))
        .select(UnreadableRecordRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Unresolved records, oldest first (by first sighting, then ledger order), at most `limit`
/// (clamped to 1..=[`MAX_LIST`]); of one account when given.
pub async fn list_unresolved(
    conn: &mut AsyncPgConnection,
    account: Option<&AccountId>,
    limit: i64,
) -> Result<Vec<UnreadableRecordRow>, StoreError> {
    let mut query = unreadable_records::table
        .filter(unreadable_records::resolved_at.is_null())
        .into_boxed();
    if let Some(a) = account {
        query = query.filter(unreadable_records::account.eq(a.to_string()));
    }
    Ok(query
        .order((
            unreadable_records::first_seen.asc(),
            unreadable_records::paging_token.asc(),
        ))
        .limit(limit.clamp(1, MAX_LIST))
        .select(UnreadableRecordRow::as_select())
        .load(conn)
        .await?)
}

/// One more failed read (the reconciliation job's): `attempts + 1`, `last_seen = now()`, and
/// the latest parse error. `None` when the record is unknown or already resolved.
pub async fn bump_attempt(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
    paging_token: i64,
    parse_error: &str,
) -> Result<Option<UnreadableRecordRow>, StoreError> {
    Ok(diesel::update(
        unreadable_records::table
            .find((account.to_string(), paging_token))
            .filter(unreadable_records::resolved_at.is_null()),
    )
    .set((
        unreadable_records::attempts.eq(unreadable_records::attempts + 1),
        unreadable_records::last_seen.eq(diesel::dsl::now),
        unreadable_records::parse_error.eq(parse_error),
    ))
    .returning(UnreadableRecordRow::as_returning())
    .get_result(conn)
    .await
    .optional()?)
}

/// Marks the record resolved (it read, and went through the matcher's idempotent path).
/// Returns false when it is unknown or was resolved already.
pub async fn mark_resolved(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
    paging_token: i64,
) -> Result<bool, StoreError> {
    let updated = diesel::update(
        unreadable_records::table
            .find((account.to_string(), paging_token))
            .filter(unreadable_records::resolved_at.is_null()),
    )
    .set((
        unreadable_records::resolved_at.eq(diesel::dsl::now),
        unreadable_records::last_seen.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await?;
    Ok(updated == 1)
}

/// Unresolved records, for the `orbitpay_unreadable_records` gauge.
pub async fn count_unresolved(conn: &mut AsyncPgConnection) -> Result<i64, StoreError> {
    Ok(unreadable_records::table
        .filter(unreadable_records::resolved_at.is_null())
        .count()
        .get_result(conn)
        .await?)
}
