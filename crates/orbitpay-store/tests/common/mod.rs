#![allow(dead_code)] // each test binary uses a different subset

use chrono::{Duration, Utc};
use orbitpay_core::{AccountId, Amount, Asset, TxHash};
use orbitpay_store::models::NewSession;

pub fn account(seed: u8) -> AccountId {
    AccountId::from_bytes([seed; 32])
}

pub fn tx_hash(seed: u8) -> String {
    TxHash::from_bytes([seed; 32]).to_string()
}

pub fn new_session(account: AccountId) -> NewSession {
    NewSession {
        account,
        asset: Asset::Native,
        amount: Amount::from_stroops(100_000_000).unwrap(),
        expires_at: Utc::now() + Duration::minutes(30),
        metadata: serde_json::json!({ "cart": 7 }),
        order_id: Some("order-1".into()),
        webhook_url: None,
    }
}
