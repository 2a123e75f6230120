//! Read queries over credited payments.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::StoreError;
use crate::models::PaymentRow;
use crate::schema::payments;

/// The payments credited to a session, oldest first.
pub async fn for_session(
    conn: &mut AsyncPgConnection,
    session_id: Uuid,
) -> Result<Vec<PaymentRow>, StoreError> {
    Ok(payments::table
        .filter(payments::session_id.eq(session_id))
        .order(payments::id.asc())
        .select(PaymentRow::as_select())
        .load(conn)
        .await?)
}

/// The payments of several sessions in one query (a page's list), in id order.
pub async fn for_sessions(
    conn: &mut AsyncPgConnection,
    session_ids: &[Uuid],
) -> Result<Vec<PaymentRow>, StoreError> {
    Ok(payments::table
        .filter(payments::session_id.eq_any(session_ids))
        .order(payments::id.asc())
        .select(PaymentRow::as_select())
        .load(conn)
        .await?)
}
