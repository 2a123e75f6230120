//! The dispatcher against a real HTTP receiver on loopback and a real database.

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
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn id(&self) -> String {
        self.headers["webhook-id"].to_str().unwrap().to_owned()
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Answers each request with what `script` says (status, delay before answering) and notes any
/// webhook-id that arrives while a request with the same id is still being answered.
type Script = Box<dyn FnMut(&Received) -> (u16, Duration) + Send>;

#[derive(Clone)]
struct Receiver {
    url: String,
    log: Arc<Mutex<Vec<Received>>>,
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
    overlaps: Arc<Mutex<Vec<String>>>,
    script: Arc<Mutex<Script>>,
}

impl Receiver {
    async fn start(script: impl FnMut(&Received) -> (u16, Duration) + Send + 'static) -> Receiver {
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

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }
}

async fn handle(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
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

fn ok(_: &Received) -> (u16, Duration) {
    (200, Duration::ZERO)
}

fn config() -> DispatcherConfig {
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

struct Setup {
    db: TestDb,
    secret: String,
}

impl Setup {
    async fn new(url: &str) -> Setup {
        let db = TestDb::new().await;
        deliveries::set_default_endpoint(&mut db.conn().await, Some(url))
            .await
            .unwrap();
        Setup {
            db,
            secret: Secret::generate(),
        }
    }

    fn dispatcher(&self, config: DispatcherConfig) -> Dispatcher {
        let signer = Signer {
            current: Secret::parse(&self.secret).unwrap(),
            previous: None,
        };
        Dispatcher::new(self.db.pool(), signer, config)
    }

    async fn conn(&self) -> AsyncPgConnection {
        self.db.conn().await
    }
}

async fn session(conn: &mut AsyncPgConnection, seed: u8) -> Uuid {
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

async fn event(conn: &mut AsyncPgConnection, session_id: Option<Uuid>) -> Uuid {
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

async fn state(conn: &mut AsyncPgConnection, event_id: Uuid) -> DeliveryState {
    deliveries::for_event(conn, event_id).await.unwrap()[0].state
}

/// Runs rounds until `done` or a deadline.
async fn drive(d: &Dispatcher, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        d.run_once().await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn delivered_once_on_200_with_a_signature_the_reference_library_accepts() {
    let rx = Receiver::start(ok).await;
    let s = Setup::new(&rx.url).await;
    let mut conn = s.conn().await;
    let id = event(&mut conn, None).await;
    let d = s.dispatcher(config());

    assert_eq!(d.run_once().await.unwrap(), 1);
    assert_eq!(d.run_once().await.unwrap(), 0);
    let got = rx.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id(), id.to_string());
    assert_eq!(got[0].json()["type"], "session.paid");
    assert_eq!(got[0].json()["id"], id.to_string());
    standardwebhooks::Webhook::new(&s.secret)
        .unwrap()
        .verify(&got[0].body, &got[0].headers)
        .unwrap();
    assert_eq!(state(&mut conn, id).await, DeliveryState::Delivered);
    let row = &deliveries::for_event(&mut conn, id).await.unwrap()[0];
    let attempts = deliveries::attempts(&mut conn, row.id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status, Some(200));
}

#[tokio::test]
async fn retried_after_500_and_timeout_then_delivered_with_the_same_id() {
    let mut n = 0;
    let rx = Receiver::start(move |_| {
        n += 1;
        match n {
            1 => (500, Duration::ZERO),
            2 => (200, Duration::from_secs(2)), // beyond the 500 ms timeout
            _ => (200, Duration::ZERO),
        }
    })
    .await;
    let s = Setup::new(&rx.url).await;
    let mut conn = s.conn().await;
    let id = event(&mut conn, None).await;
    let d = s.dispatcher(config());
    drive(&d, || rx.received().len() >= 3).await;
    delivered(&mut conn, id).await;

    let ids: Vec<_> = rx.received().iter().map(Received::id).collect();
    assert_eq!(ids, vec![id.to_string(); 3]);
    assert_eq!(state(&mut conn, id).await, DeliveryState::Delivered);
    let row = &deliveries::for_event(&mut conn, id).await.unwrap()[0];
    let attempts = deliveries::attempts(&mut conn, row.id).await.unwrap();
    let statuses: Vec<_> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500), None, Some(200)]);
    assert!(
        attempts[1].error.as_deref().unwrap().contains("timed out"),
        "{:?}",
        attempts[1].error
    );
}

/// Waits for the attempt the receiver already answered to be recorded.
async fn delivered(conn: &mut AsyncPgConnection, id: Uuid) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while state(conn, id).await != DeliveryState::Delivered {
        assert!(tokio::time::Instant::now() < deadline, "{id} not delivered");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn dead_after_max_attempts_and_no_attempt_after() {
    let rx = Receiver::start(|_| (500, Duration::ZERO)).await;
    let s = Setup::new(&rx.url).await;
    let mut conn = s.conn().await;
    let id = event(&mut conn, None).await;
    let mut cfg = config();
    cfg.retry.max_attempts = 3;
    let d = s.dispatcher(cfg);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while state(&mut conn, id).await != DeliveryState::Dead {
        assert!(tokio::time::Instant::now() < deadline, "never dead");
        d.run_once().await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(d.run_once().await.unwrap(), 0);
    assert_eq!(rx.received().len(), 3);
}

#[tokio::test]
async fn a_410_disables_the_endpoint() {
    let rx = Receiver::start(|_| (410, Duration::ZERO)).await;
    let s = Setup::new(&rx.url).await;
    let mut conn = s.conn().await;
    let id = event(&mut conn, None).await;
    let d = s.dispatcher(config());
    d.run_once().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(d.run_once().await.unwrap(), 0);
    assert_eq!(rx.received().len(), 1);
    assert_eq!(state(&mut conn, id).await, DeliveryState::Pending);
    assert!(
        deliveries::enable_endpoint(&mut conn, &rx.url)
            .await
            .unwrap()
    );
    assert_eq!(d.run_once().await.unwrap(), 1);
}

#[tokio::test]
async fn the_ssrf_guard_refuses_loopback_unless_allowed() {
    let rx = Receiver::start(ok).await;
    let s = Setup::new(&rx.url).await;
    let mut conn = s.conn().await;
    let id = event(&mut conn, None).await;
    let mut cfg = config();
    cfg.allow_private = false;
    let d = s.dispatcher(cfg);
    assert_eq!(d.run_once().await.unwrap(), 1);
    assert!(rx.received().is_empty());
    let row = &deliveries::for_event(&mut conn, id).await.unwrap()[0];
    assert!(
        row.last_error.as_deref().unwrap().contains("refused"),
        "{row:?}"
    );
    assert_eq!(row.state, DeliveryState::Pending);
}

#[tokio::test]
async fn a_failing_session_does_not_delay_another_and_its_own_events_wait_in_order() {
    let failing: Arc<Mutex<Option<String>>> = Arc::default();
    let f = failing.clone();
    let rx = Receiver::start(move |r| {
        let sid = r.json()["data"]["session_id"].as_str().map(str::to_owned);
        if sid.is_some() && sid == *f.lock().unwrap() {
            (500, Duration::ZERO)
        } else {
            (200, Duration::ZERO)
        }
    })
    .await;
    let s = Setup::new(&rx.url).await;
    let mut conn = s.conn().await;
    let (a, b) = (session(&mut conn, 1).await, session(&mut conn, 2).await);
    *failing.lock().unwrap() = Some(a.to_string());
    let a1 = event(&mut conn, Some(a)).await;
    let a2 = event(&mut conn, Some(a)).await;
    let b1 = event(&mut conn, Some(b)).await;
    let b2 = event(&mut conn, Some(b)).await;
    let d = s.dispatcher(config());
    for _ in 0..6 {
        d.run_once().await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(state(&mut conn, b1).await, DeliveryState::Delivered);
    assert_eq!(state(&mut conn, b2).await, DeliveryState::Delivered);
    let ids: Vec<_> = rx.received().iter().map(Received::id).collect();
    assert!(ids.len() >= 4, "a1 retried: {ids:?}");
    assert!(!ids.contains(&a2.to_string()), "a2 went before a1: {ids:?}");
    let b_order: Vec<_> = ids
        .iter()
        .filter(|i| **i == b1.to_string() || **i == b2.to_string())
        .collect();
    assert_eq!(b_order, [&b1.to_string(), &b2.to_string()]);

    // Session a recovers: a1 then a2.
    *failing.lock().unwrap() = None;
    drive(&d, || {
        rx.received().iter().any(|r| r.id() == a2.to_string())
    })
    .await;
    let ids: Vec<_> = rx.received().iter().map(Received::id).collect();
    let last_a1 = ids.iter().rposition(|i| *i == a1.to_string()).unwrap();
    let first_a2 = ids.iter().position(|i| *i == a2.to_string()).unwrap();
    assert!(last_a1 < first_a2, "{ids:?}");
}

#[tokio::test]
async fn two_dispatchers_never_send_one_delivery_concurrently() {
    // A short pause in the receiver widens the window in which a double claim would overlap.
    let rx = Receiver::start(|_| (200, Duration::from_millis(5))).await;
    let s = Setup::new(&rx.url).await;
    let mut conn = s.conn().await;
    let mut cfg = config();
    cfg.batch = 3;
    let (d1, d2) = (s.dispatcher(cfg.clone()), s.dispatcher(cfg));
    let mut sent = 0;
    for round in 0..30 {
        let mut ids = Vec::new();
        for _ in 0..8 {
            ids.push(event(&mut conn, None).await);
        }
        sent += ids.len();
        tokio::time::timeout(Duration::from_secs(20), async {
            tokio::join!(work(&d1, &rx, sent), work(&d2, &rx, sent))
        })
        .await
        .unwrap_or_else(|_| panic!("round {round} timed out"));
        for id in ids {
            delivered(&mut conn, id).await;
        }
    }
    assert!(rx.overlaps.lock().unwrap().is_empty());
    let mut ids: Vec<_> = rx.received().iter().map(Received::id).collect();
    assert_eq!(ids.len(), sent, "each delivery sent exactly once");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), sent);
}

async fn work(d: &Dispatcher, rx: &Receiver, sent: usize) {
    while rx.received().len() < sent {
        d.run_once().await.unwrap();
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn notify_wakes_the_dispatcher_before_its_poll() {
    let rx = Receiver::start(ok).await;
    let s = Setup::new(&rx.url).await;
    let mut cfg = config();
    cfg.poll_interval = Duration::from_secs(60);
    let d = Arc::new(s.dispatcher(cfg).listen(s.db.url()));
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn({
        let (d, stop) = (d.clone(), stop.clone());
        async move { d.run(stop).await }
    });
    // Let the loop run its first (empty) round and LISTEN.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut conn = s.conn().await;
    event(&mut conn, None).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while rx.received().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not woken by NOTIFY"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    task.await.unwrap();
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_secret_never_reaches_the_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut n = 0;
    let rx = Receiver::start(move |_| {
        n += 1;
        (if n == 1 { 500 } else { 410 }, Duration::ZERO)
    })
    .await;
    let s = Setup::new(&rx.url).await;
    let mut conn = s.conn().await;
    event(&mut conn, None).await;
    let mut cfg = config();
    cfg.retry.max_attempts = 2;
    let d = s.dispatcher(cfg);
    drive(&d, || rx.received().len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    d.run_once().await.unwrap();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("will retry") && text.contains("410"),
        "{text}"
    );
    let key = s.secret.strip_prefix("whsec_").unwrap();
    assert!(!text.contains(key), "secret in logs: {text}");
    let signature = rx.received()[0].headers["webhook-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!text.contains(&signature[3..]), "signature in logs");
}
