//! Horizon's JSON, field for field, as `/accounts/{G}/payments`, `/transactions/{hash}`,
//! `/operations/{id}/effects` and `/` return it.
//!
//! Everything a record may lack is an `Option` and unknown fields are ignored, so a newer or
//! older Horizon still deserialises; whether a record makes sense is decided in
//! [`crate::convert`], where a missing field becomes an `Unsupported` operation instead of a
//! parse failure of the whole page.

use std::str::FromStr;

use orbitpay_core::TxHash;
use serde::Deserialize;
use serde_json::Value;

/// A HAL link.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Link {
    pub href: String,
    #[serde(default)]
    pub templated: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageLinks {
    #[serde(rename = "self")]
    pub self_: Option<Link>,
    pub next: Option<Link>,
    pub prev: Option<Link>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Embedded<T> {
    pub records: Vec<T>,
}

/// A page of records. Payments pages are read as `Page<Value>` so each record is converted on
/// its own and one bad record cannot fail the page.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    #[serde(rename = "_links", default)]
    pub links: PageLinks,
    #[serde(rename = "_embedded")]
    pub embedded: Embedded<T>,
}

impl<T> Page<T> {
    /// The `cursor` of `_links.next`: Horizon sets it to the last record's paging token.
    pub fn next_cursor(&self) -> Option<i64> {
        let href = &self.links.next.as_ref()?.href;
        let url = url::Url::parse(href).ok()?;
        let (_, v) = url.query_pairs().find(|(k, _)| k == "cursor")?;
        crate::convert::parse_token(&v)
    }
}

/// An operation record from a payments page or stream (`payment`, both path payments,
/// `create_account`, `account_merge`, `invoke_host_function`), or a `create_claimable_balance`
/// from an operations list.
#[derive(Debug, Clone, Deserialize)]
pub struct OperationRecord {
    pub id: String,
    pub paging_token: String,
    pub transaction_successful: Option<bool>,
    pub source_account: Option<String>,
    pub source_account_muxed: Option<String>,
    pub source_account_muxed_id: Option<String>,
    #[serde(rename = "type")]
    pub op_type: String,
    pub type_i: Option<i64>,
    pub created_at: Option<String>,
    pub transaction_hash: String,
    /// Present with `join=transactions`; the memo lives here.
    pub transaction: Option<TransactionRecord>,

    // payment, path payments (destination asset)
    pub asset_type: Option<String>,
    pub asset_code: Option<String>,
    pub asset_issuer: Option<String>,
    pub from: Option<String>,
    pub from_muxed: Option<String>,
    pub from_muxed_id: Option<String>,
    pub to: Option<String>,
    pub to_muxed: Option<String>,
    pub to_muxed_id: Option<String>,
    /// What the receiver got. Never confuse with `source_amount`.
    pub amount: Option<String>,
    // path payments: what the sender spent (never credited)
    pub source_amount: Option<String>,
    pub source_max: Option<String>,
    pub destination_min: Option<String>,
    pub source_asset_type: Option<String>,
    pub source_asset_code: Option<String>,
    pub source_asset_issuer: Option<String>,

    // create_account
    pub starting_balance: Option<String>,
    pub funder: Option<String>,
    pub funder_muxed: Option<String>,
    pub funder_muxed_id: Option<String>,
    /// create_account: the new account; account_merge: the merged (source) account.
    pub account: Option<String>,
    pub account_muxed: Option<String>,
    pub account_muxed_id: Option<String>,

    // account_merge
    pub into: Option<String>,
    pub into_muxed: Option<String>,
    pub into_muxed_id: Option<String>,

    // invoke_host_function
    pub function: Option<String>,
    pub asset_balance_changes: Option<Vec<AssetBalanceChange>>,

    // create_claimable_balance (on an account's or a transaction's operations, never on a
    // payments list): `asset` is `native` or `CODE:ISSUER`, and `amount` above is its amount.
    pub asset: Option<String>,
    pub claimants: Option<Vec<ClaimantRecord>>,
}

/// One claimant of a `create_claimable_balance`; its predicate is not read (who may claim,
/// not when, decides whom a refund paid).
#[derive(Debug, Clone, Deserialize)]
pub struct ClaimantRecord {
    pub destination: String,
}

/// One entry of `invoke_host_function`'s `asset_balance_changes` (Stellar Asset Contracts).
#[derive(Debug, Clone, Deserialize)]
pub struct AssetBalanceChange {
    pub asset_type: String,
    pub asset_code: Option<String>,
    pub asset_issuer: Option<String>,
    /// `transfer`, `mint`, `burn` or `clawback`.
    #[serde(rename = "type")]
    pub change_type: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub amount: String,
    pub destination_muxed_id: Option<String>,
}

/// `GET /transactions/{hash}`, and the `transaction` embedded by `join=transactions`.
#[derive(Debug, Clone, Deserialize)]
pub struct TransactionRecord {
    pub id: Option<String>,
    pub paging_token: Option<String>,
    pub successful: bool,
    pub hash: String,
    pub ledger: u32,
    pub created_at: Option<String>,
    pub source_account: Option<String>,
    pub account_muxed: Option<String>,
    pub account_muxed_id: Option<String>,
    pub fee_account: Option<String>,
    pub operation_count: Option<u32>,
    /// `none`, `text`, `id`, `hash` or `return`.
    pub memo_type: String,
    /// For text memos this is Horizon's scrubbed rewrite: never matched on.
    pub memo: Option<String>,
    /// Base64 of a text memo's exact bytes.
    pub memo_bytes: Option<String>,
    /// A fee-bump's outer envelope (`hash`, `signatures`).
    pub fee_bump_transaction: Option<Value>,
    /// A fee-bump's inner transaction (`hash`, `signatures`, `max_fee`).
    pub inner_transaction: Option<Value>,
}

impl TransactionRecord {
    /// A fee-bump's (outer, inner) hashes, each when present and well formed.
    ///
    /// Horizon finds a fee-bump by either hash. The operations, the payments stream and the
    /// embedded `transaction` name the outer one; `hash` echoes whichever was asked for.
    pub fn fee_bump_hashes(&self) -> (Option<TxHash>, Option<TxHash>) {
        let hash_in = |v: &Option<Value>| {
            v.as_ref()
                .and_then(|v| v.get("hash"))
                .and_then(Value::as_str)
                .and_then(|h| TxHash::from_str(h).ok())
        };
        (
            hash_in(&self.fee_bump_transaction),
            hash_in(&self.inner_transaction),
        )
    }

    /// Whether this transaction is the one `hash` names: its `hash`, or either hash of a
    /// fee-bump.
    pub fn is_known_as(&self, hash: &TxHash) -> bool {
        let (outer, inner) = self.fee_bump_hashes();
        TxHash::from_str(&self.hash).ok().as_ref() == Some(hash)
            || outer.as_ref() == Some(hash)
            || inner.as_ref() == Some(hash)
    }
}

/// An effect from `GET /operations/{id}/effects`; only `account_credited` is read, to learn
/// how much an `account_merge` moved.
#[derive(Debug, Clone, Deserialize)]
pub struct EffectRecord {
    #[serde(rename = "type")]
    pub effect_type: String,
    pub account: Option<String>,
    pub account_muxed: Option<String>,
    pub account_muxed_id: Option<String>,
    pub amount: Option<String>,
    pub asset_type: Option<String>,
    pub asset_code: Option<String>,
    pub asset_issuer: Option<String>,
}

/// `GET /`: what history this Horizon holds.
#[derive(Debug, Clone, Deserialize)]
pub struct RootResponse {
    pub horizon_version: Option<String>,
    pub core_version: Option<String>,
    pub network_passphrase: Option<String>,
    pub history_latest_ledger: u32,
    pub history_elder_ledger: u32,
    pub history_latest_ledger_closed_at: Option<String>,
    pub ingest_latest_ledger: Option<u32>,
    pub core_latest_ledger: Option<u32>,
    pub current_protocol_version: Option<u32>,
}

/// `GET /ledgers/{sequence}`: the fields a reader of close times needs.
#[derive(Debug, Clone, Deserialize)]
pub struct LedgerResponse {
    pub sequence: u32,
    pub closed_at: String,
}

/// An `application/problem+json` body.
#[derive(Debug, Clone, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    /// Old Horizon docs spelled it `details`.
    #[serde(alias = "details")]
    pub detail: Option<String>,
    pub extras: Option<Value>,
    pub instance: Option<String>,
}

impl Problem {
    /// The last path segment of `type`: `not_found`, `rate_limit_exceeded`, `before_history`...
    pub fn kind(&self) -> &str {
        self.problem_type
            .rsplit('/')
            .next()
            .unwrap_or(&self.problem_type)
    }
}

/// `GET /accounts/{id}`: the fields a refund needs (the sequence number, every balance line).
#[derive(Debug, Clone, Deserialize)]
pub struct AccountResponse {
    pub account_id: String,
    /// A string holding an i64 (Horizon's `json:"sequence,string"`).
    pub sequence: String,
    #[serde(default)]
    pub balances: Vec<BalanceRecord>,
}

/// One balance line: native, a trustline (with `limit`), or liquidity-pool shares.
#[derive(Debug, Clone, Deserialize)]
pub struct BalanceRecord {
    pub balance: String,
    pub limit: Option<String>,
    pub asset_type: String,
    pub asset_code: Option<String>,
    pub asset_issuer: Option<String>,
    pub is_authorized: Option<bool>,
}
