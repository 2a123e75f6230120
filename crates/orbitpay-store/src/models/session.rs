use chrono::{DateTime, Utc};
use diesel::prelude::*;
use orbitpay_core::{AccountId, Amount, Asset, PositiveAmount, Reference, SessionStatus, TxHash};
use uuid::Uuid;

use crate::StoreError;
use crate::numeric::U64Numeric;
use crate::schema::sessions;

/// A `sessions` row as stored.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, Identifiable)]
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
    /// `stream` or `client_report` while processing ([`ClaimSource`]).
    pub claim_source: Option<String>,
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

/// Which transaction claimed a `processing` session, when (the database's clock), and where
/// the claim came from. Present exactly when the status is `processing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessingClaim {
    pub tx_hash: TxHash,
    pub started_at: DateTime<Utc>,
    pub source: ClaimSource,
}

/// Where a claim came from. A stream claim names a transaction the ledger has (it is
/// redelivered until settled); a client report names a hash a wallet sent, which may never
/// land: only those are released when the ledger does not know them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClaimSource {
    Stream,
    ClientReport,
}

impl ClaimSource {
    pub const ALL: [ClaimSource; 2] = [ClaimSource::Stream, ClaimSource::ClientReport];

    pub fn as_str(self) -> &'static str {
        match self {
            ClaimSource::Stream => "stream",
            ClaimSource::ClientReport => "client_report",
        }
    }
}

impl std::str::FromStr for ClaimSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        ClaimSource::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "{:?} is not a claim source",
                    s.chars().take(40).collect::<String>()
                )
            })
    }
}

impl std::fmt::Display for ClaimSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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

    /// What a customer may still pay, while the session can take a payment: `pending`, or
    /// `processing` with part of the amount still owed. `None` once it is paid, expired or
    /// cancelled (a payment then is only a late one, unmatched), or owes nothing. Derived,
    /// like [`Session::is_overpaid`], so a view can never offer to take what the matcher
    /// would refuse.
    pub fn amount_owed(&self) -> Option<PositiveAmount> {
        match self.status {
            SessionStatus::Pending | SessionStatus::Processing => {
                self.amount.saturating_sub(self.amount_received).positive()
            }
            SessionStatus::Paid | SessionStatus::Expired | SessionStatus::Cancelled => None,
        }
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
            &row.claim_source,
        ) {
            (SessionStatus::Processing, Some(hash), Some(started_at), Some(source)) => {
                Some(ProcessingClaim {
                    tx_hash: hash
                        .parse()
                        .map_err(|e| corrupt("processing_tx_hash", &e))?,
                    started_at,
                    source: source.parse().map_err(|e| corrupt("claim_source", &e))?,
                })
            }
            (SessionStatus::Processing, ..) => {
                return Err(corrupt("processing claim", &"missing"));
            }
            (_, None, None, None) => None,
            (status, ..) => return Err(corrupt("processing claim", &format!("set on {status}"))),
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
