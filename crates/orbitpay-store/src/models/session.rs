use chrono::{DateTime, Utc};
use diesel::prelude::*;
use orbitpay_core::{AccountId, Amount, Asset, Reference, SessionStatus, TxHash};
use uuid::Uuid;

use crate::StoreError;
use crate::numeric::U64Numeric;
use crate::schema::sessions;

/// A `sessions` row as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
pub struct SessionRow {
    pub id: Uuid,
    pub account: String,
    pub reference: U64Numeric,
    pub asset: String,
    pub amount: i64,
    pub amount_received: i64,
    pub status: SessionStatus,
    pub processing_tx_hash: Option<String>,
    pub processing_started_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub metadata: serde_json::Value,
    pub order_id: Option<String>,
    pub webhook_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
pub struct NewSessionRow {
    pub id: Uuid,
    pub account: String,
    pub reference: U64Numeric,
    pub asset: String,
    pub amount: i64,
    pub expires_at: DateTime<Utc>,
    pub metadata: serde_json::Value,
    pub order_id: Option<String>,
    pub webhook_url: Option<String>,
}

/// What a merchant asks for; the store picks the id and the reference.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    pub account: AccountId,
    pub asset: Asset,
    pub amount: Amount,
    pub expires_at: DateTime<Utc>,
    /// Must be a JSON object (a CHECK enforces it).
    pub metadata: serde_json::Value,
    pub order_id: Option<String>,
    pub webhook_url: Option<String>,
}

/// Which transaction claimed a `processing` session, and when (the database's
/// clock). Present exactly when the status is `processing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessingClaim {
    pub tx_hash: TxHash,
    pub started_at: DateTime<Utc>,
}

/// A session, parsed into domain types.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: Uuid,
    pub account: AccountId,
    pub reference: Reference,
    pub asset: Asset,
    pub amount: Amount,
    pub amount_received: Amount,
    pub status: SessionStatus,
    pub processing: Option<ProcessingClaim>,
    pub expires_at: DateTime<Utc>,
    pub metadata: serde_json::Value,
    pub order_id: Option<String>,
    pub webhook_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by a trigger on every UPDATE; compare-and-set token.
    pub version: i64,
}

impl Session {
    /// Derived, not stored, so it can never disagree with the amounts.
    pub fn is_overpaid(&self) -> bool {
        self.amount_received > self.amount
    }
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;

    fn try_from(row: SessionRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("session {}: {what}: {e}", row.id))
        };
        let processing = match (
            row.status,
            &row.processing_tx_hash,
            row.processing_started_at,
        ) {
            (SessionStatus::Processing, Some(hash), Some(started_at)) => Some(ProcessingClaim {
                tx_hash: hash
                    .parse()
                    .map_err(|e| corrupt("processing_tx_hash", &e))?,
                started_at,
            }),
            (SessionStatus::Processing, _, _) => {
                return Err(corrupt("processing claim", &"missing"));
            }
            (_, None, None) => None,
            (status, _, _) => return Err(corrupt("processing claim", &format!("set on {status}"))),
        };
        Ok(Session {
            account: row.account.parse().map_err(|e| corrupt("account", &e))?,
            reference: row.reference.into(),
            asset: row.asset.parse().map_err(|e| corrupt("asset", &e))?,
            amount: Amount::from_stroops(row.amount).map_err(|e| corrupt("amount", &e))?,
            amount_received: Amount::from_stroops(row.amount_received)
                .map_err(|e| corrupt("amount_received", &e))?,
            id: row.id,
            status: row.status,
            processing,
            expires_at: row.expires_at,
            metadata: row.metadata,
            order_id: row.order_id,
            webhook_url: row.webhook_url,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        })
    }
}
