//! The dispatcher against a real HTTP receiver on loopback and a real database.

mod common;

use orbitpay_store::AsyncPgConnection;
use orbitpay_store::deliveries;
use orbitpay_store::models::DeliveryState;
use orbitpay_webhooks::Dispatcher;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

use common::*;

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
async fn a_backlog_to_one_endpoint_is_delivered_without_waiting_for_the_poll() {
    let rx = Receiver::start(ok).await;
    let s = Setup::new(&rx.url).await;
    let mut conn = s.conn().await;
    for _ in 0..10 {
        event(&mut conn, None).await;
    }
    let mut cfg = config();
    // Rounds lease one delivery (the endpoint's cap), far fewer than a batch; no LISTEN.
    cfg.per_endpoint = 1;
    cfg.poll_interval = Duration::from_secs(3600);
    let d = Arc::new(s.dispatcher(cfg));
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn({
        let (d, stop) = (d.clone(), stop.clone());
        async move { d.run(stop).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while rx.received().len() < 10 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of 10 delivered: the loop waited for its poll between rounds",
            rx.received().len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    task.await.unwrap();
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

#[tokio::test]
async fn a_dropped_connection_is_retried_and_delivered_with_the_same_id() {
    // An endpoint that accepts and hangs up without a response.
    let rude = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = rude.local_addr().unwrap().to_string();
    let hangups = tokio::spawn(async move {
        let (sock, _) = rude.accept().await.unwrap();
        drop(sock);
    });
    let s = Setup::new(&format!("http://{addr}/hook")).await;
    let mut conn = s.conn().await;
    let id = event(&mut conn, None).await;
    let d = s.dispatcher(config());
    assert_eq!(d.run_once().await.unwrap(), 1);
    hangups.await.unwrap();
    let row = deliveries::for_event(&mut conn, id)
        .await
        .unwrap()
        .remove(0);
    assert_eq!((row.state, row.last_status), (DeliveryState::Pending, None));
    assert!(row.last_error.is_some(), "the transport error is recorded");

    let rx = Receiver::start_on(&addr, ok).await;
    drive(&d, || !rx.received().is_empty()).await;
    delivered(&mut conn, id).await;
    assert_eq!(rx.received()[0].id(), id.to_string());
}

#[tokio::test]
async fn a_dispatcher_killed_mid_attempt_is_taken_over_from_the_database() {
    let rx = Receiver::start(ok).await;
    let s = Setup::new(&rx.url).await;
    let mut conn = s.conn().await;
    let id = event(&mut conn, None).await;
    // A process that leased the delivery and died before it could record anything.
    let leased = deliveries::claim(&mut conn, "killed", Duration::from_millis(300), 10, 4)
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    let next = s.dispatcher(config());
    assert_eq!(
        next.run_once().await.unwrap(),
        0,
        "a live lease is respected"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    drive(&next, || !rx.received().is_empty()).await;
    delivered(&mut conn, id).await;
    assert_eq!(state(&mut conn, id).await, DeliveryState::Delivered);
    assert_eq!(rx.received()[0].id(), id.to_string());
}

#[tokio::test]
async fn a_storm_of_leases_killed_before_sending_spends_none_of_the_budget() {
    let mut n = 0;
    let rx = Receiver::start(move |_| {
        n += 1;
        if n == 1 {
            (500, Duration::ZERO)
        } else {
            (200, Duration::ZERO)
        }
    })
    .await;
    let s = Setup::new(&rx.url).await;
    let mut conn = s.conn().await;
    let id = event(&mut conn, None).await;
    // More processes than the 30-attempt budget lease the delivery and die before sending;
    // each lease expires and the next takes it over.
    for i in 0..35 {
        let leased = deliveries::claim(&mut conn, &format!("killed-{i}"), Duration::ZERO, 10, 4)
            .await
            .unwrap();
        assert_eq!(leased.len(), 1, "lease {i}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let row = deliveries::for_event(&mut conn, id)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(row.attempts, 0, "nothing was sent");

    // A live dispatcher's first POST fails: that is attempt 1 of 30, retried, not dead.
    let d = s.dispatcher(config());
    assert_eq!(d.run_once().await.unwrap(), 1);
    let row = deliveries::for_event(&mut conn, id)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        (row.state, row.attempts, row.last_status),
        (DeliveryState::Pending, 1, Some(500))
    );
    drive(&d, || rx.received().len() >= 2).await;
    delivered(&mut conn, id).await;
    let made = deliveries::attempts(&mut conn, row.id).await.unwrap();
    assert_eq!(
        made.iter()
            .map(|a| (a.attempt, a.status))
            .collect::<Vec<_>>(),
        [(1, Some(500)), (2, Some(200))]
    );
    let row = deliveries::for_event(&mut conn, id)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        row.attempts, 2,
        "the count agrees with the attempts on record"
    );
}
