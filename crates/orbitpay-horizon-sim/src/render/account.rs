//! The account resource (`GET /accounts/{id}`), with the field names, order and value types of
//! Horizon's `protocol.Account`: `sequence` as a string, trustlines before the native balance,
//! each trustline with its `limit`.

use orbitpay_core::AccountId;
use serde::Serialize;

use super::{AssetFields, Link, amt, asset_fields, link, rfc3339, templated};
use crate::model::{AccountState, Ledger};

#[derive(Serialize)]
struct AccountLinks {
    #[serde(rename = "self")]
    self_: Link,
    transactions: Link,
    operations: Link,
    payments: Link,
    effects: Link,
    offers: Link,
    trades: Link,
    data: Link,
}

#[derive(Serialize)]
struct Thresholds {
    low_threshold: u8,
    med_threshold: u8,
    high_threshold: u8,
}

#[derive(Serialize)]
struct Flags {
    auth_required: bool,
    auth_revocable: bool,
    auth_immutable: bool,
    auth_clawback_enabled: bool,
}

#[derive(Serialize)]
struct BalanceLine {
    balance: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<String>,
    buying_liabilities: String,
    selling_liabilities: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_modified_ledger: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_authorized: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_authorized_to_maintain_liabilities: Option<bool>,
    #[serde(flatten)]
    asset: AssetFields,
}

#[derive(Serialize)]
struct Signer {
    weight: u8,
    key: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
pub(crate) struct AccountRecord {
    _links: AccountLinks,
    id: String,
    account_id: String,
    sequence: String,
    sequence_ledger: u32,
    sequence_time: String,
    subentry_count: usize,
    last_modified_ledger: u32,
    last_modified_time: String,
    thresholds: Thresholds,
    flags: Flags,
    balances: Vec<BalanceLine>,
    signers: Vec<Signer>,
    data: serde_json::Map<String, serde_json::Value>,
    num_sponsoring: u32,
    num_sponsored: u32,
    paging_token: String,
}

pub(crate) fn account_record(
    base: &str,
    ledger: &Ledger,
    account: &AccountId,
    sequence: i64,
    state: &AccountState,
) -> AccountRecord {
    let g = account.to_string();
    let href = format!("{base}/accounts/{g}");
    let list = |what: &str| templated(format!("{href}/{what}{{?cursor,limit,order}}"));
    let modified = ledger.latest;
    let zero = super::ZERO_AMOUNT.to_owned();
    let mut balances: Vec<BalanceLine> = state
        .trustlines
        .iter()
        .map(|t| BalanceLine {
            balance: amt(t.balance),
            limit: Some(amt(t.limit)),
            buying_liabilities: zero.clone(),
            selling_liabilities: zero.clone(),
            last_modified_ledger: Some(modified),
            is_authorized: Some(true),
            is_authorized_to_maintain_liabilities: Some(true),
            asset: asset_fields(&t.asset),
        })
        .collect();
    balances.push(BalanceLine {
        balance: amt(state.native),
        limit: None,
        buying_liabilities: zero.clone(),
        selling_liabilities: zero,
        last_modified_ledger: None,
        is_authorized: None,
        is_authorized_to_maintain_liabilities: None,
        asset: asset_fields(&orbitpay_core::Asset::Native),
    });
    let sequence_ledger = (sequence >> 32) as u32;
    AccountRecord {
        _links: AccountLinks {
            self_: link(href.clone()),
            transactions: list("transactions"),
            operations: list("operations"),
            payments: list("payments"),
            effects: list("effects"),
            offers: list("offers"),
            trades: list("trades"),
            data: templated(format!("{href}/data/{{key}}")),
        },
        id: g.clone(),
        account_id: g.clone(),
        sequence: sequence.to_string(),
        sequence_ledger,
        sequence_time: ledger.close_time(sequence_ledger).to_string(),
        subentry_count: state.trustlines.len(),
        last_modified_ledger: modified,
        last_modified_time: rfc3339(ledger.close_time(modified)),
        thresholds: Thresholds {
            low_threshold: 0,
            med_threshold: 0,
            high_threshold: 0,
        },
        flags: Flags {
            auth_required: false,
            auth_revocable: false,
            auth_immutable: false,
            auth_clawback_enabled: false,
        },
        balances,
        signers: vec![Signer {
            weight: 1,
            key: g.clone(),
            kind: "ed25519_public_key",
        }],
        data: serde_json::Map::new(),
        num_sponsoring: 0,
        num_sponsored: 0,
        paging_token: g,
    }
}
