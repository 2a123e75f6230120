//! Helpers of the dispatcher tests: a real HTTP receiver on loopback, a database with events
//! to deliver, and a dispatcher over both.
#![allow(dead_code)]

pub mod dns;

use std::time::Duration;

use chrono::Utc;
use orbitpay_core::{AccountId, Amount, Asset};
use orbitpay_store::deliveries;
use orbitpay_store::models::{DeliveryState, NewSession};
use orbitpay_store::outbox::{self, EventType};
use orbitpay_store::{AsyncPgConnection, sessions};
use orbitpay_testkit::TestDb;
#[allow(unused_imports)] // each test binary uses a different subset
pub use orbitpay_testkit::receiver::{Received, Receiver, ok};
use orbitpay_webhooks::{Dispatcher, DispatcherConfig, RetryPolicy, Secret, Signer};
use uuid::Uuid;

pub fn config() -> DispatcherConfig {
    DispatcherConfig {
        timeout: Duration::from_millis(500),
        retry: RetryPolicy {
            backoff_base: Duration::from_millis(1),
            backoff_cap: Duration::from_millis(5),
            ..RetryPolicy::default()
        },
        poll_interval: Duration::from_millis(20),
        allow_private: true,
        ..DispatcherConfig::default()
    }
}

pub struct Setup {
    pub db: TestDb,
    pub secret: String,
}

impl Setup {
    pub async fn new(url: &str) -> Setup {
        let db = TestDb::new().await;
        deliveries::set_default_endpoint(&mut db.conn().await, Some(url))
            .await
            .unwrap();
        Setup {
            db,
            secret: Secret::generate(),
        }
    }

    pub fn dispatcher(&self, config: DispatcherConfig) -> Dispatcher {
        let signer = Signer {
            current: Secret::parse(&self.secret).unwrap(),
            previous: None,
        };
        Dispatcher::new(self.db.pool(), signer, config)
    }

    pub async fn conn(&self) -> AsyncPgConnection {
        self.db.conn().await
    }
}

pub async fn session(conn: &mut AsyncPgConnection, seed: u8) -> Uuid {
    let new = NewSession {
        account: AccountId::from_bytes([seed; 32]),
        asset: Asset::Native,
        amount: Amount::from_stroops(10_000_000).unwrap(),
        expires_at: Utc::now() + chrono::Duration::minutes(30),
        metadata: serde_json::json!({}),
        order_id: None,
        webhook_url: None,
    };
    sessions::insert(conn, &new).await.unwrap().id
}

pub async fn event(conn: &mut AsyncPgConnection, session_id: Option<Uuid>) -> Uuid {
    outbox::insert(
        conn,
        EventType::SessionPaid,
        session_id,
        serde_json::json!({ "session_id": session_id }),
    )
    .await
    .unwrap()
    .event_id
}

pub async fn state(conn: &mut AsyncPgConnection, event_id: Uuid) -> DeliveryState {
    deliveries::for_event(conn, event_id).await.unwrap()[0].state
}

/// Runs rounds until `done` or a deadline.
pub async fn drive(d: &Dispatcher, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        d.run_once().await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
