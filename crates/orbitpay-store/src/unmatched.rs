//! Reading money that credited no session.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::StoreError;
use crate::feed::{Feed, FeedError};
use crate::models::UnmatchedPaymentRow;
use crate::schema::unmatched_payments;

/// Unmatched payments after the row with id `after` (0: from the start), in commit order
/// ([`crate::feed`]): a poller that pages with the last id it saw never passes a row that
/// commits later.
pub async fn list_after(
    conn: &mut AsyncPgConnection,
    after: i64,
    limit: i64,
) -> Result<Result<Vec<UnmatchedPaymentRow>, FeedError>, StoreError> {
    const UNMATCHED: Feed = Feed {
        table: "unmatched_payments",
        columns: "t.id, t.op_id, t.tx_hash, t.account, t.amount, t.asset, t.from_address,
                  t.memo_type, t.memo_value, t.memo_bytes, t.muxed_id, t.reason, t.session_id,
                  t.ledger, t.detail, t.created_at, t.raw_operation",
    };
    UNMATCHED.page(conn, after, limit).await
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

/// Unmatched payments newest first, with id below `before` (none: from the newest), for the
/// operator page: keyset on the primary key.
pub async fn newest(
    conn: &mut AsyncPgConnection,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<UnmatchedPaymentRow>, StoreError> {
    let mut query = unmatched_payments::table
        .select(UnmatchedPaymentRow::as_select())
        .order(unmatched_payments::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(unmatched_payments::id.lt(before));
    }
    Ok(query.load(conn).await?)
}

/// How many unmatched payments there are (the overview's figure; none is ever deleted, and
/// refunds will resolve them).
pub async fn count(conn: &mut AsyncPgConnection) -> Result<i64, StoreError> {
    Ok(unmatched_payments::table.count().get_result(conn).await?)
}
