//! What the operator page reads of refunds: a keyset page by status, a session's refunds and
//! the figures of those awaiting a signature. Reading only; [`crate::refunds`] writes them.

use diesel::dsl::{count_star, sql};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Numeric};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::StoreError;
use crate::models::RefundRow;
use crate::numeric::I128Numeric;
use crate::refunds::AWAITING_SIGNATURE;
use crate::schema::{refunds, unmatched_payments};

/// Refunds newest first (ids are UUIDv7), of one status when given, with id below `before`:
/// a keyset page on `refunds_status_id_idx` (or the primary key for every status).
pub async fn newest(
    conn: &mut AsyncPgConnection,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<RefundRow>, StoreError> {
    let mut q = refunds::table
        .select(RefundRow::as_select())
        .order(refunds::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(status) = status {
        q = q.filter(refunds::status.eq(status.to_owned()));
    }
    if let Some(before) = before {
        q = q.filter(refunds::id.lt(before));
    }
    Ok(q.load(conn).await?)
}

/// A session's refunds, newest first: those of the session itself (its overpaid part) and
/// those of the unmatched payments that name it (a late payment to it, an amount past i64).
pub async fn for_session(
    conn: &mut AsyncPgConnection,
    session_id: Uuid,
) -> Result<Vec<RefundRow>, StoreError> {
    let late = unmatched_payments::table
        .filter(unmatched_payments::session_id.eq(session_id))
        .select(unmatched_payments::id.nullable());
    Ok(refunds::table
        .filter(
            refunds::session_id
                .eq(session_id)
                .or(refunds::unmatched_id.eq_any(late)),
        )
        .select(RefundRow::as_select())
        .order(refunds::id.desc())
        .load(conn)
        .await?)
}

/// Refunds awaiting a signature, per asset as stored: how many, and the stroops they return
/// (a sum of i64 amounts is i128). In asset order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Awaiting {
    pub asset: String,
    pub count: i64,
    pub stroops: i128,
}

pub async fn awaiting_totals(conn: &mut AsyncPgConnection) -> Result<Vec<Awaiting>, StoreError> {
    let rows: Vec<(String, i64, Option<I128Numeric>)> = refunds::table
        .filter(refunds::status.eq(AWAITING_SIGNATURE))
        .group_by(refunds::asset)
        .select((
            refunds::asset,
            count_star(),
            sql::<Nullable<Numeric>>("sum(amount)"),
        ))
        .order(refunds::asset.asc())
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(asset, count, s)| Awaiting {
            asset,
            count,
            stroops: s.map_or(0, |s| s.0),
        })
        .collect())
}
