use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::outgoing_payments;

/// A refund-like operation the watched account sent: it completed `refund_id`, or completed
/// none for `reason` (see `settlement::outgoing`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = outgoing_payments, check_for_backend(diesel::pg::Pg))]
pub struct OutgoingPaymentRow {
    pub id: i64,
    pub account: String,
    pub op_id: i64,
    pub tx_hash: String,
    pub ledger: i32,
    pub closed_at: Option<DateTime<Utc>>,
    pub method: String,
    pub destination: Option<String>,
    pub asset: String,
    pub amount: i64,
    pub memo_type: String,
    pub memo_value: Option<String>,
    pub memo_bytes: Option<Vec<u8>>,
    pub refund_id: Option<Uuid>,
    pub reason: Option<String>,
    pub near_refund_id: Option<Uuid>,
    pub raw_operation: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = outgoing_payments, check_for_backend(diesel::pg::Pg))]
pub struct NewOutgoingPayment {
    pub account: String,
    pub op_id: i64,
    pub tx_hash: String,
    pub ledger: i32,
    pub closed_at: Option<DateTime<Utc>>,
    pub method: String,
    pub destination: Option<String>,
    pub asset: String,
    pub amount: i64,
    pub memo_type: String,
    pub memo_value: Option<String>,
    pub memo_bytes: Option<Vec<u8>>,
    pub refund_id: Option<Uuid>,
    pub reason: Option<String>,
    pub near_refund_id: Option<Uuid>,
    pub raw_operation: Option<serde_json::Value>,
}
