//! Idempotency-Key semantics over the real socket and database, and the store's key table.

mod admin_support;

use std::sync::Arc;
use std::time::Duration;

use admin_support::*;
use diesel::prelude::*;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use orbitpay_store::idempotency::{self, Begin, KeyPolicy};
use orbitpay_store::schema::{idempotency_keys, outbox_events, sessions};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

const BODY: &str = r#"{"amount":"12.5","asset":"native","order_id":"A-1"}"#;

async fn count_sessions(h: &Harness) -> i64 {
    let mut conn = h.db.conn().await;
    sessions::table.count().get_result(&mut conn).await.unwrap()
}

async fn count_events(h: &Harness) -> i64 {
    let mut conn = h.db.conn().await;
    outbox_events::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn same_key_same_request_replays_the_first_response_byte_for_byte() {
    let h = Harness::start().await;
    let first = h.post("/v1/sessions", Some("K1"), BODY).await;
    assert_eq!(first.status, 201);
    // Same request, other key order and whitespace: still the same request.
    let reordered = r#"{ "order_id": "A-1",  "asset": "native", "amount": "12.5" }"#;
    for body in [BODY, reordered] {
        let retry = h.post("/v1/sessions", Some("K1"), body).await;
        assert_eq!(retry.status, 200, "a first 201 replays as 200");
        assert_eq!(retry.body, first.body);
        assert_eq!(retry.headers.get("idempotent-replayed").unwrap(), "true");
    }
    assert_eq!(count_sessions(&h).await, 1);
    assert_eq!(count_events(&h).await, 1);
}

#[tokio::test]
async fn same_key_different_request_is_refused() {
    let h = Harness::start().await;
    assert_eq!(h.post("/v1/sessions", Some("K2"), BODY).await.status, 201);
    let other_amount = r#"{"amount":"12.6","asset":"native","order_id":"A-1"}"#;
    assert_error(
        &h.post("/v1/sessions", Some("K2"), other_amount).await,
        422,
        "IDEMPOTENCY_KEY_REUSED",
    );
    // Numerically equal but textually different amounts are different requests too.
    let same_value = r#"{"amount":"12.50","asset":"native","order_id":"A-1"}"#;
    assert_error(
        &h.post("/v1/sessions", Some("K2"), same_value).await,
        422,
        "IDEMPOTENCY_KEY_REUSED",
    );
    // Another endpoint with the key.
    let s = h.create_session("K3").await;
    let r = h
        .post(
            &format!("/v1/sessions/{}/payments", s["id"].as_str().unwrap()),
            Some("K2"),
            BODY,
        )
        .await;
    assert_error(&r, 422, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(count_sessions(&h).await, 2);
}

#[tokio::test]
async fn concurrent_creates_with_one_key_give_one_201_and_one_409() {
    let h = Harness::start().await;
    // Hold the session.created insert so the first request stays in flight, inside its transaction.
    let mut blocker = h.db.conn().await;
    blocker
        .batch_execute("BEGIN; LOCK TABLE outbox_events IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let (a, b) = tokio::join!(h.post("/v1/sessions", Some("K-conc"), BODY), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let r = h.post("/v1/sessions", Some("K-conc"), BODY).await;
        blocker.batch_execute("COMMIT").await.unwrap();
        r
    });
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [201, 409],
        "{} / {}",
        String::from_utf8_lossy(&a.body),
        String::from_utf8_lossy(&b.body)
    );
    let conflict = if a.status == 409 { &a } else { &b };
    assert_error(conflict, 409, "IDEMPOTENCY_KEY_IN_USE");
    assert_eq!(count_sessions(&h).await, 1);
    // Once the first finished, the key replays.
    assert_eq!(
        h.post("/v1/sessions", Some("K-conc"), BODY).await.status,
        200
    );
}

#[tokio::test]
async fn concurrent_reports_with_one_key_give_one_201_and_one_409() {
    let h = Harness::start().await;
    let s = h.create_session("for-conc-report").await;
    let path = format!("/v1/sessions/{}/payments", s["id"].as_str().unwrap());
    let body = format!(r#"{{"tx_hash":"{}"}}"#, tx_hash(3));
    let gate = Arc::new(Semaphore::new(0));
    *h.reporter.gate.lock().unwrap() = Some(gate.clone());
    let (a, b) = tokio::join!(h.post(&path, Some("R-conc"), &body), async {
        let r = h.post(&path, Some("R-conc"), &body).await;
        gate.add_permits(10);
        r
    });
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [201, 409]);
    assert_eq!(h.reporter.calls(), 1);
}

#[tokio::test]
async fn a_retry_after_a_crash_between_commit_and_response_gets_the_stored_result() {
    let h = Harness::start().await;
    let mut blocker = h.db.conn().await;
    blocker
        .batch_execute("BEGIN; LOCK TABLE outbox_events IN EXCLUSIVE MODE")
        .await
        .unwrap();

    // The client sends its request and goes away before any answer.
    let request = format!(
        "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nIdempotency-Key: K-crash\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let mut stream = tokio::net::UnixStream::connect(&h.socket).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut conn = h.db.conn().await;
    wait_for(async || {
        idempotency::find(&mut conn, "K-crash")
            .await
            .unwrap()
            .is_some_and(|k| k.locked_at.is_some())
    })
    .await;
    drop(stream);
    blocker.batch_execute("COMMIT").await.unwrap();
    // The request finishes without its client: the key and the session commit together.
    wait_for(async || {
        idempotency::find(&mut conn, "K-crash")
            .await
            .unwrap()
            .is_some_and(|k| k.response_status.is_some())
    })
    .await;
    let stored = idempotency::find(&mut conn, "K-crash")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.response_status, Some(201));
    assert!(stored.session_id.is_some());

    let retry = h.post("/v1/sessions", Some("K-crash"), BODY).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.body, stored.response_body.unwrap());
    assert_eq!(
        body_json(&retry)["id"].as_str().unwrap(),
        stored.session_id.unwrap().to_string()
    );
    assert_eq!(count_sessions(&h).await, 1, "no second session");
    assert_eq!(count_events(&h).await, 1, "no second event");
}

#[tokio::test]
async fn validation_failures_and_server_errors_are_not_stored() {
    let h = Harness::start().await;
    let bad = r#"{"amount":"0","asset":"native"}"#;
    assert_error(
        &h.post("/v1/sessions", Some("K-val"), bad).await,
        400,
        "INVALID_AMOUNT",
    );
    assert_eq!(
        h.post("/v1/sessions", Some("K-val"), BODY).await.status,
        201,
        "the retry runs again"
    );

    let s = h.create_session("for-5xx").await;
    let path = format!("/v1/sessions/{}/payments", s["id"].as_str().unwrap());
    let body = format!(r#"{{"tx_hash":"{}"}}"#, tx_hash(5));
    h.reporter.set_mode(FakeMode::Fail);
    assert_error(
        &h.post(&path, Some("K-5xx"), &body).await,
        500,
        "INTERNAL_SERVER_ERROR",
    );
    h.reporter.set_mode(FakeMode::Settle);
    let r = h.post(&path, Some("K-5xx"), &body).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(h.reporter.calls(), 2);

    // A conflict is a result: stored and replayed.
    h.post(
        &format!("/v1/sessions/{}/cancel", s["id"].as_str().unwrap()),
        None,
        "",
    )
    .await;
    let conflict = h.post(&path, Some("K-409"), &body).await;
    assert_error(&conflict, 409, "INVALID_SESSION_STATE");
    let replay = h.post(&path, Some("K-409"), &body).await;
    assert_eq!((replay.status, replay.body), (409, conflict.body));
    assert_eq!(h.reporter.calls(), 3);
}

#[tokio::test]
async fn an_expired_key_is_forgotten() {
    let h = Harness::start().await;
    assert_eq!(
        h.post("/v1/sessions", Some("K-old"), BODY).await.status,
        201
    );
    let mut conn = h.db.conn().await;
    conn.batch_execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
        .await
        .unwrap();
    let other = r#"{"amount":"1","asset":"native"}"#;
    assert_eq!(
        h.post("/v1/sessions", Some("K-old"), other).await.status,
        201
    );
}

#[tokio::test]
async fn the_store_takes_over_stale_locks_and_prunes_old_keys() {
    let db = orbitpay_testkit::TestDb::new().await;
    let mut conn = db.conn().await;
    let policy = KeyPolicy {
        ttl: Duration::from_secs(3600),
        stale_lock_after: Duration::from_secs(60),
    };
    let print = [1u8; 32];
    let Begin::Started { token } = idempotency::begin(&mut conn, "k", &print, policy)
        .await
        .unwrap()
    else {
        panic!("the first request takes the key");
    };
    assert_eq!(
        idempotency::begin(&mut conn, "k", &print, policy)
            .await
            .unwrap(),
        Begin::InUse
    );
    assert_eq!(
        idempotency::begin(&mut conn, "k", &[2u8; 32], policy)
            .await
            .unwrap(),
        Begin::Mismatch
    );

    // The first request crashed: its lock goes stale and is taken over.
    conn.batch_execute("UPDATE idempotency_keys SET locked_at = locked_at - interval '2 minutes'")
        .await
        .unwrap();
    let Begin::Started { token: taken } = idempotency::begin(&mut conn, "k", &print, policy)
        .await
        .unwrap()
    else {
        panic!("a stale lock is taken over");
    };
    // The crashed request's token is the stale lock value; the takeover holds a new one.
    let stale = token - chrono::Duration::minutes(2);
    assert_ne!(taken, stale);
    // The crashed request can no longer store or release anything.
    assert!(
        !idempotency::complete(&conn, "k", stale, 201, b"{}", None)
            .await
            .unwrap()
    );
    assert!(!idempotency::release(&mut conn, "k", stale).await.unwrap());
    assert!(
        idempotency::complete(&conn, "k", taken, 201, b"{\"a\":1}", None)
            .await
            .unwrap()
    );
    assert_eq!(
        idempotency::begin(&mut conn, "k", &print, policy)
            .await
            .unwrap(),
        Begin::Replay {
            status: 201,
            body: b"{\"a\":1}".to_vec()
        }
    );

    // Released keys start over.
    let Begin::Started { token } = idempotency::begin(&mut conn, "r", &print, policy)
        .await
        .unwrap()
    else {
        panic!();
    };
    assert!(idempotency::release(&mut conn, "r", token).await.unwrap());
    assert!(matches!(
        idempotency::begin(&mut conn, "r", &[9u8; 32], policy)
            .await
            .unwrap(),
        Begin::Started { .. }
    ));

    // Pruning deletes what is older than the TTL, by the database clock.
    conn.batch_execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE key = 'k'",
    )
    .await
    .unwrap();
    assert_eq!(
        idempotency::prune_older_than(&mut conn, Duration::from_secs(24 * 3600))
            .await
            .unwrap(),
        1
    );
    let left: Vec<String> = idempotency_keys::table
        .select(idempotency_keys::key)
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, ["r"]);
}

/// Polls `check` every 20 ms for at most 10 s.
async fn wait_for(mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not met within 10 s");
}
