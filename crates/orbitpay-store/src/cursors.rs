//! Stream cursors: where each watched account's payment stream resumes.

use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use orbitpay_core::AccountId;

use crate::StoreError;
use crate::schema::stream_cursors;

diesel::define_sql_function! {
    /// PostgreSQL's `GREATEST`, for two BIGINTs.
    fn greatest(a: diesel::sql_types::BigInt, b: diesel::sql_types::BigInt) -> diesel::sql_types::BigInt;
}

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
/// be skipped on the next resume... or, worse, re-credit.
pub async fn set(
    conn: &mut AsyncPgConnection,
    account: &AccountId,
    token: i64,
) -> Result<i64, StoreError> {
    Ok(diesel::insert_into(stream_cursors::table)
        .values((
            stream_cursors::account.eq(account.to_string()),
            stream_cursors::paging_token.eq(token),
        ))
        .on_conflict(stream_cursors::account)
        .do_update()
        .set((
            stream_cursors::paging_token.eq(greatest(
                stream_cursors::paging_token,
                excluded(stream_cursors::paging_token),
            )),
            stream_cursors::updated_at.eq(diesel::dsl::now),
        ))
        .returning(stream_cursors::paging_token)
        .get_result(conn)
        .await?)
}
