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
    .bind::<diesel::sql_types::Text, _>(account.to_string())
    .bind::<diesel::sql_types::BigInt, _>(token)
    .get_result(&mut &*conn)
    .await?;
    Ok(stored.paging_token)
}
