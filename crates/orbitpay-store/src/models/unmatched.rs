use chrono::{DateTime, Utc};
use diesel::prelude::*;
use orbitpay_core::UnmatchedReason;
use uuid::Uuid;

use super::PgUnmatchedReason;
use crate::numeric::{I128Numeric, U64Numeric};
use crate::schema::unmatched_payments;

/// Money that reached a watched account but credited no session.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, Identifiable)]
#[diesel(table_name = unmatched_payments, check_for_backend(diesel::pg::Pg))]
pub struct UnmatchedPaymentRow {
    pub id: i64,
    pub op_id: i64,
    pub tx_hash: String,
    pub account: String,
    /// Stroops; i128 because contract transfers may exceed i64.
    pub amount: Option<I128Numeric>,
    pub asset: Option<String>,
    pub from_address: Option<String>,
    pub memo_type: Option<String>,
    pub memo_value: Option<String>,
    /// The exact memo bytes (text memos need not be UTF-8).
    pub memo_bytes: Option<Vec<u8>>,
    pub muxed_id: Option<U64Numeric>,
    pub reason: UnmatchedReason,
    /// The session it was meant for, when known (late payments).
    pub session_id: Option<Uuid>,
    pub ledger: Option<i32>,
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The operation as the source sent it (see `settlement` for the cap and NUL rule).
    pub raw_operation: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = unmatched_payments, check_for_backend(diesel::pg::Pg))]
pub struct NewUnmatchedPayment {
    pub op_id: i64,
    pub tx_hash: String,
    pub account: String,
    pub amount: Option<I128Numeric>,
    pub asset: Option<String>,
    pub from_address: Option<String>,
    pub memo_type: Option<String>,
    pub memo_value: Option<String>,
    pub memo_bytes: Option<Vec<u8>>,
    pub muxed_id: Option<U64Numeric>,
    #[diesel(serialize_as = PgUnmatchedReason)]
    pub reason: UnmatchedReason,
    pub session_id: Option<Uuid>,
    pub ledger: Option<i32>,
    pub detail: Option<String>,
    pub raw_operation: Option<serde_json::Value>,
}
