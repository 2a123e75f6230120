use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::refunds;

/// A refund, column for column (`refunds`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = refunds, check_for_backend(diesel::pg::Pg))]
pub struct RefundRow {
    pub id: Uuid,
    pub unmatched_id: Option<i64>,
    pub session_id: Option<Uuid>,
    pub account: String,
    /// Stroops.
    pub amount: i64,
    pub asset: String,
    pub destination: String,
    pub memo_type: String,
    pub memo_value: Option<String>,
    pub memo_bytes: Option<Vec<u8>>,
    /// `payment` or `claimable_balance`.
    pub method: String,
    /// `awaiting_signature`, `completed` or `canceled`.
    pub status: String,
    pub envelope_xdr: String,
    pub sequence: i64,
    pub valid_until: DateTime<Utc>,
    pub tx_hash: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RefundRow {
    /// The SEP-7 URI a wallet signs this refund's envelope from (its QR code on the operator
    /// page). One definition, so every place that shows a refund's URI shows the same one.
    pub fn sep7_uri(&self, network_passphrase: &str) -> String {
        orbitpay_core::sep7_tx_uri(
            &self.envelope_xdr,
            network_passphrase,
            &format!("orbitpay refund {}", self.id),
        )
    }
}
