//! Stream cursors: where each watched account's payment stream resumes.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use orbitpay_core::AccountId;

use crate::StoreError;
use crate::schema::stream_cursors;

/// The stored paging token, if the account was ever streamed.
pub async fn get(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
) -> Result<Option<i64>, StoreError> {
    Ok(stream_cursors::table
        .find(account.to_string())
        .select(stream_cursors::paging_token)
        .first(conn)
        .await
        .optional()?)
}

/// What an account's stream was meant to cover: the records after `first` up to `current`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The token the cursor row was created with (the stream's start, "now" or a configured
    /// token, written before anything was read); `None` when the row predates the column and
    /// the start is unknown.
    pub first: Option<i64>,
    /// The stored cursor.
    pub current: i64,
}

/// The account's [`Span`], if the account was ever streamed.
pub async fn span(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
) -> Result<Option<Span>, StoreError> {
    let row: Option<(Option<i64>, i64)> = stream_cursors::table
        .find(account.to_string())
        .select((stream_cursors::first_token, stream_cursors::paging_token))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(first, current)| Span { first, current }))
}

/// Records progress and returns the token now stored. The row's first write also sets its
/// `first_token`, which no later write changes.
///
/// Only ever moves forward: a late writer (a restarted stream replaying older
/// pages, a slow concurrent task) cannot rewind the cursor and cause a gap to
/// be skipped on the next resume... or, worse, re-credit. Takes the connection shared, so a
/// settle pipelines it with its other writes.
pub async fn set(
    conn: &AsyncPgConnection,
    account: &AccountId,
    token: i64,
) -> Result<i64, StoreError> {
    set_key(conn, &account.to_string(), token).await
}

async fn set_key(conn: &AsyncPgConnection, key: &str, token: i64) -> Result<i64, StoreError> {
    #[derive(QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        paging_token: i64,
    }
    // Constant text, so it stays prepared: diesel's builder form of this upsert was parsed
    // again in every settle.
    let stored: Stored = crate::prepared::prepared(
        "INSERT INTO stream_cursors (account, paging_token, first_token) VALUES ($1, $2, $2)
         ON CONFLICT (account) DO UPDATE
           SET paging_token = greatest(stream_cursors.paging_token, excluded.paging_token),
               updated_at = now()
         RETURNING paging_token",
    )
    .bind::<diesel::sql_types::Text, _>(key)
    .bind::<diesel::sql_types::BigInt, _>(token)
    .get_result(&mut &*conn)
    .await?;
    Ok(stored.paging_token)
}

/// The key of the network follower's row in `stream_cursors` (network mode): no account's
/// address can take it (a strkey is 56 characters).
pub const NETWORK: &str = "network";

/// The network cursor, if the network was ever followed.
pub async fn get_network(conn: &mut AsyncPgConnection) -> Result<Option<i64>, StoreError> {
    Ok(stream_cursors::table
        .find(NETWORK)
        .select(stream_cursors::paging_token)
        .first(conn)
        .await
        .optional()?)
}

/// Moves the network cursor forward (never back) and returns it, as [`set`] does for an
/// account.
pub async fn set_network(conn: &AsyncPgConnection, token: i64) -> Result<i64, StoreError> {
    set_key(conn, NETWORK, token).await
}

/// Moves the cursors of `accounts` forward to `token` in one statement (a missing row is
/// created at it). Network mode writes it with the network cursor for every account the
/// network covers on its own, so each account's cursor stays true: per-account mode (after a
/// switch back) and a restart resume each account from here.
pub async fn advance_all(
    conn: &AsyncPgConnection,
    accounts: &[String],
    token: i64,
) -> Result<(), StoreError> {
    if accounts.is_empty() {
        return Ok(());
    }
    crate::prepared::prepared(
        "INSERT INTO stream_cursors (account, paging_token, first_token)
         SELECT a, $2, $2 FROM unnest($1::text[]) AS a
         ON CONFLICT (account) DO UPDATE
           SET paging_token = excluded.paging_token, updated_at = now()
           WHERE stream_cursors.paging_token < excluded.paging_token",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(accounts)
    .bind::<diesel::sql_types::BigInt, _>(token)
    .execute(&mut &*conn)
    .await?;
    Ok(())
}
