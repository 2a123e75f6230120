//! Reading money that credited no session.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::StoreError;
use crate::models::UnmatchedPaymentRow;
use crate::schema::unmatched_payments;

/// Unmatched payments with `id > after`, oldest first: a keyset feed (ids only grow).
pub async fn list_after(
    conn: &mut AsyncPgConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<UnmatchedPaymentRow>, StoreError> {
    Ok(unmatched_payments::table
        .filter(unmatched_payments::id.gt(after))
        .order(unmatched_payments::id.asc())
        .limit(limit)
        .select(UnmatchedPaymentRow::as_select())
        .load(conn)
        .await?)
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> Result<Option<UnmatchedPaymentRow>, StoreError> {
    Ok(unmatched_payments::table
        .find(id)
        .select(UnmatchedPaymentRow::as_select())
        .first(conn)
        .await
        .optional()?)
}
