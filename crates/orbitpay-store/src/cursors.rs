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

/// Records progress and returns the token now stored.
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
        "INSERT INTO stream_cursors (account, paging_token) VALUES ($1, $2)
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
