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

/// The default webhook endpoint of the delivery tests.
pub const DEFAULT_ENDPOINT: &str = "https://merchant.example/hook";
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(60);

/// One POST's outcome, as the dispatcher would record it.
pub fn attempt(status: u16) -> orbitpay_store::deliveries::Attempt<'static> {
    orbitpay_store::deliveries::Attempt {
        started_at: Utc::now(),
        latency: std::time::Duration::from_millis(3),
        status: Some(status),
        error: None,
        response_snippet: Some("ok"),
    }
}

/// What the dispatcher does around one POST under `c`'s lease: counts the attempt, then
/// records it with `outcome`. Returns whether the lease still decided.
pub async fn send(
    conn: &mut diesel_async::AsyncPgConnection,
    c: &orbitpay_store::deliveries::Claimed,
    owner: &str,
    status: u16,
    outcome: orbitpay_store::deliveries::Outcome,
) -> bool {
    use orbitpay_store::deliveries;
    assert!(
        deliveries::start_attempt(conn, c, owner, LEASE)
            .await
            .unwrap(),
        "the lease is still {owner}'s"
    );
    deliveries::record(conn, c, owner, &attempt(status), outcome)
        .await
        .unwrap()
}

/// An event that names no session.
pub async fn unmatched_event(conn: &mut diesel_async::AsyncPgConnection) -> uuid::Uuid {
    orbitpay_store::outbox::insert(
        conn,
        orbitpay_store::outbox::EventType::PaymentUnmatched,
        None,
        serde_json::json!({}),
    )
    .await
    .unwrap()
    .event_id
}
