//! Helpers of the dispatcher tests: a real HTTP receiver on loopback, a database with events
//! to deliver, and a dispatcher over both.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use orbitpay_core::{AccountId, Amount, Asset};
use orbitpay_store::deliveries;
use orbitpay_store::models::{DeliveryState, NewSession};
use orbitpay_store::outbox::{self, EventType};
use orbitpay_store::{AsyncPgConnection, sessions};
use orbitpay_testkit::TestDb;
use orbitpay_webhooks::{Dispatcher, DispatcherConfig, RetryPolicy, Secret, Signer};
use uuid::Uuid;

#[derive(Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn id(&self) -> String {
        self.headers["webhook-id"].to_str().unwrap().to_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Answers each request with what `script` says (status, delay before answering) and notes any
/// webhook-id that arrives while a request with the same id is still being answered.
type Script = Box<dyn FnMut(&Received) -> (u16, Duration) + Send>;

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub log: Arc<Mutex<Vec<Received>>>,
    pub in_flight: Arc<Mutex<HashMap<String, usize>>>,
    pub overlaps: Arc<Mutex<Vec<String>>>,
    pub script: Arc<Mutex<Script>>,
}

impl Receiver {
    pub async fn start(
        script: impl FnMut(&Received) -> (u16, Duration) + Send + 'static,
    ) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
            log: Arc::default(),
            in_flight: Arc::default(),
            overlaps: Arc::default(),
            script: Arc::new(Mutex::new(Box::new(script))),
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(handle))
            .with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        r
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }
}

pub async fn handle(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let got = Received { headers, body };
    let id = got.id();
    {
        let mut f = r.in_flight.lock().unwrap();
        let n = f.entry(id.clone()).or_default();
        if *n > 0 {
            r.overlaps.lock().unwrap().push(id.clone());
        }
        *n += 1;
    }
    r.log.lock().unwrap().push(got.clone());
    let (status, delay) = (r.script.lock().unwrap())(&got);
    tokio::time::sleep(delay).await;
    *r.in_flight.lock().unwrap().get_mut(&id).unwrap() -= 1;
    StatusCode::from_u16(status).unwrap()
}

pub fn ok(_: &Received) -> (u16, Duration) {
    (200, Duration::ZERO)
}

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
