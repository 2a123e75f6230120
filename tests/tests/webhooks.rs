//! Webhooks from the running daemon: every state change reaches a real receiver on loopback,
//! signed (checked with the Standard Webhooks reference library), retried with the same
//! `webhook-id` after a failure, each session's versions in order, and every body matching the
//! documented schema. The admin API shows the queue and puts a dead delivery back.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use orbitpay::admin::events::schema::WebhookEnvelope;
use orbitpay::config::Secret;
use orbitpay_core::{Asset, MuxedAccount};
use orbitpay_horizon_sim::{Op, Tx, units};
use orbitpay_testkit::receiver::Receiver;
use serde_json::{Value, json};

mod common;

/// A fixed 32-byte secret: the test must not depend on randomness to reproduce.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=";

async fn create(running: &common::Running, key: &str) -> Value {
    let r = running
        .client
        .post_json(
            "/v1/sessions",
            &[("Idempotency-Key", key)],
            &json!({ "amount": "5", "asset": "native" }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json().unwrap()
}

fn pay(running: &common::Running, session: &Value, whole: i64) {
    let reference: u64 = session["reference"].as_str().unwrap().parse().unwrap();
    let to = MuxedAccount::new(running.shop, reference);
    let op = Op::payment(running.payer, to, Asset::Native, units(whole));
    running
        .sim
        .close_ledger(vec![Tx::new(running.payer).op(op)]);
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_arrives_signed_in_version_order_and_a_failure_is_retried_with_the_same_id() {
    // The first request fails; the retry must carry the same webhook-id.
    let mut calls = 0;
    let receiver = Receiver::start(move |_| {
        calls += 1;
        (if calls == 1 { 500 } else { 200 }, Duration::ZERO)
    })
    .await;
    let url = receiver.url.clone();
    let running = common::start(77, move |c| {
        c.webhooks.url = Some(url);
        c.webhooks.secret = Secret::new(SECRET);
        c.webhooks.allow_private = true;
        c.webhooks.poll_interval = Duration::from_millis(50);
    })
    .await;

    let a = create(&running, "a").await;
    let b = create(&running, "b").await;
    pay(&running, &a, 5);
    pay(&running, &b, 2);
    pay(&running, &b, 3);

    let wanted = |r: &Receiver| {
        let types: Vec<String> = r
            .received()
            .iter()
            .map(|m| m.json()["type"].as_str().unwrap().to_owned())
            .collect();
        types.iter().filter(|t| *t == "session.paid").count() == 2
    };
    eventually("both sessions' session.paid delivered", || {
        wanted(&receiver)
    })
    .await;

    let received = receiver.received();
    let first_id = received[0].id();
    assert!(
        received[1..].iter().any(|m| m.id() == first_id),
        "the failed request was retried with the same webhook-id"
    );
    let mut versions: HashMap<String, i64> = HashMap::new();
    let mut types = HashSet::new();
    for m in &received {
        let body = m.verify(SECRET).expect("signed with the configured secret");
        assert_eq!(
            body["id"].as_str().unwrap(),
            m.id(),
            "webhook-id is the event id"
        );
        let envelope: WebhookEnvelope = serde_json::from_value(body.clone())
            .unwrap_or_else(|e| panic!("body does not match the documented schema: {e}\n{body}"));
        assert_eq!(
            serde_json::to_value(&envelope).unwrap(),
            body,
            "the documented schema holds every field sent, and nothing else"
        );
        assert_eq!(envelope.version, 1);
        types.insert(body["type"].as_str().unwrap().to_owned());
        let session = envelope
            .data
            .session
            .expect("a session's event carries its snapshot");
        let last = versions.entry(session.session_id.to_string()).or_default();
        assert!(session.version >= *last, "versions in order: {body}");
        *last = session.version;
    }
    for t in [
        "session.created",
        "session.processing",
        "session.paid",
        "session.partially_paid",
    ] {
        assert!(types.contains(t), "{t} delivered: {types:?}");
    }
    assert!(
        !received
            .iter()
            .any(|m| m.verify("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_ok()),
        "a stranger's secret does not verify"
    );

    // The queue as an operator sees it.
    let deliveries = running
        .get("/v1/webhooks/deliveries?status=delivered")
        .await;
    let rows = deliveries["data"].as_array().unwrap();
    assert!(!rows.is_empty());
    let retried = rows
        .iter()
        .find(|d| d["event_id"].as_str() == Some(first_id.as_str()))
        .expect("the retried delivery is listed");
    let detail = running
        .get(&format!("/v1/webhooks/deliveries/{}", retried["id"]))
        .await;
    let attempts = detail["attempts_made"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{detail}");
    assert_eq!(
        (attempts[0]["status"].clone(), attempts[1]["status"].clone()),
        (json!(500), json!(200))
    );
    let status = running.get("/v1/status").await;
    assert_eq!(status["outbox"]["dead"], 0);

    // An admin sends an event again; the receiver gets the same id once more.
    let before = receiver.received().len();
    let r = running
        .client
        .post_json(&format!("/v1/events/{first_id}/redeliver"), &[], &json!({}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    eventually("redelivered", || {
        receiver.received()[before..]
            .iter()
            .any(|m| m.id() == first_id)
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_runs_out_of_attempts_is_dead_until_an_admin_retries_it() {
    let failing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let f = failing.clone();
    let receiver = Receiver::start(move |_| {
        let code = if f.load(std::sync::atomic::Ordering::SeqCst) {
            503
        } else {
            200
        };
        (code, Duration::ZERO)
    })
    .await;
    let url = receiver.url.clone();
    let running = common::start(78, move |c| {
        c.webhooks.url = Some(url);
        c.webhooks.secret = Secret::new(SECRET);
        c.webhooks.allow_private = true;
        c.webhooks.max_attempts = 1;
        c.webhooks.poll_interval = Duration::from_millis(50);
    })
    .await;
    create(&running, "dead").await;

    let mut dead = Value::Null;
    for _ in 0..600 {
        dead = running.get("/v1/webhooks/deliveries?status=dead").await;
        if !dead["data"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = dead["data"][0]["id"].clone();
    assert!(id.is_i64(), "a dead delivery: {dead}");
    assert_eq!(running.get("/v1/status").await["outbox"]["dead"], 1);
    // Only a dead delivery is retried; this one is, so an admin puts it back.
    failing.store(false, std::sync::atomic::Ordering::SeqCst);
    let retry = || async {
        running
            .client
            .post_json(
                &format!("/v1/webhooks/deliveries/{id}/retry"),
                &[],
                &json!({}),
            )
            .await
            .unwrap()
    };
    let r = retry().await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Now pending (or already delivered): no longer dead, so a second retry is refused.
    assert_eq!(retry().await.status, 409);
    eventually("delivered after the admin retry", || {
        receiver
            .received()
            .iter()
            .filter(|m| m.verify(SECRET).is_ok())
            .count()
            >= 2
    })
    .await;
    for _ in 0..200 {
        if running.get(&format!("/v1/webhooks/deliveries/{id}")).await["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        running.get(&format!("/v1/webhooks/deliveries/{id}")).await["status"],
        "delivered"
    );
    running.stop().await;
}
