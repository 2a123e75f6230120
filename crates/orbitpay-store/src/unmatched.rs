//! Reading money that credited no session.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Numeric};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::StoreError;
use crate::feed::{Feed, FeedError};
use crate::models::UnmatchedPaymentRow;
use crate::numeric::I128Numeric;
use crate::refunds as refunds_store;
use crate::schema::{refunds, unmatched_payments};

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

/// How many unmatched payments there are (none is ever deleted).
pub async fn count(conn: &mut AsyncPgConnection) -> Result<i64, StoreError> {
    Ok(unmatched_payments::table.count().get_result(conn).await?)
}

/// An unmatched payment is resolved when its completed refunds add up to its amount: the
/// money went back. Derived, never stored, so it cannot disagree with the refunds. A refund
/// awaiting a signature resolves nothing (the money is still here), and a payment of unknown
/// amount (unsupported, past i64) is never resolved this way.
const RESOLVED: &str = "unmatched_payments.amount IS NOT NULL AND unmatched_payments.amount <= \
     (SELECT coalesce(sum(r.amount), 0) FROM refunds r \
      WHERE r.unmatched_id = unmatched_payments.id AND r.status = 'completed')";

/// How many unmatched payments are not resolved (the overview's figure): all of them less the
/// resolved, which only the few with a completed refund can be.
pub async fn count_unresolved(conn: &mut AsyncPgConnection) -> Result<i64, StoreError> {
    let resolved: i64 = unmatched_payments::table
        .filter(
            unmatched_payments::id.nullable().eq_any(
                refunds::table
                    .filter(refunds::status.eq(refunds_store::COMPLETED))
                    .select(refunds::unmatched_id),
            ),
        )
        .filter(sql::<Bool>(RESOLVED))
        .count()
        .get_result(conn)
        .await?;
    Ok(count(conn).await? - resolved)
}

/// Like [`newest`], the unresolved ones only.
pub async fn newest_unresolved(
    conn: &mut AsyncPgConnection,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<UnmatchedPaymentRow>, StoreError> {
    let mut query = unmatched_payments::table
        .select(UnmatchedPaymentRow::as_select())
        .filter(sql::<Bool>(&format!("NOT ({RESOLVED})")))
        .order(unmatched_payments::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(unmatched_payments::id.lt(before));
    }
    Ok(query.load(conn).await?)
}

/// What the refunds of `ids` add up to, per unmatched id and refund status (canceled ones
/// left out): `(unmatched_id, status, stroops)`.
pub async fn refunded(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
) -> Result<Vec<(i64, String, i128)>, StoreError> {
    let rows: Vec<(Option<i64>, String, Option<I128Numeric>)> = refunds::table
        .filter(refunds::unmatched_id.eq_any(ids))
        .filter(refunds::status.ne(refunds_store::CANCELED))
        .group_by((refunds::unmatched_id, refunds::status))
        .select((
            refunds::unmatched_id,
            refunds::status,
            sql::<Nullable<Numeric>>("sum(amount)"),
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, status, s)| Some((id?, status, s.map_or(0, |s| s.0))))
        .collect())
}
