use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::{payment_operations, payments};

/// One transaction's credit to one session: the sum of that transaction's
/// operations paying it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = payments, check_for_backend(diesel::pg::Pg))]
pub struct PaymentRow {
    pub id: i64,
    pub session_id: Uuid,
    pub tx_hash: String,
    /// Stroops.
    pub amount: i64,
    pub asset: String,
    pub ledger: i32,
    pub created_at: DateTime<Utc>,
    /// The payer (`G…`, or `M…` when it paid from a muxed account); `None` before the column,
    /// or when the source did not name one.
    pub from_address: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = payments, check_for_backend(diesel::pg::Pg))]
pub struct NewPayment {
    pub session_id: Uuid,
    pub tx_hash: String,
    pub amount: i64,
    pub asset: String,
    pub ledger: i32,
    /// A fee-bump's inner hash; `tx_hash` is the outer one.
    pub inner_tx_hash: Option<String>,
    /// The payer of the transaction's first operation to the session.
    pub from_address: Option<String>,
}

/// An operation credited through a payment; it can be credited once per account (one contract
/// operation may pay several watched accounts, each under the same id).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = payment_operations, primary_key(account, op_id))]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct PaymentOperationRow {
    /// Horizon operation id (TOID).
    pub op_id: i64,
    pub payment_id: i64,
    /// Stroops.
    pub amount: i64,
    /// The account whose stream or report carried it (its payment's session's account).
    pub account: String,
}
