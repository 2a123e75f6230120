//! The delivery queue: fan-out in the event's transaction, leases, ordering per session.

mod common;

use std::time::Duration;

use common::DEFAULT_ENDPOINT as DEFAULT;
use common::{LEASE, account, attempt, new_session, send};
use diesel_async::AsyncConnection as _;
use orbitpay_store::deliveries::{self, Outcome};
use orbitpay_store::models::DeliveryState;
use orbitpay_store::outbox::{self, EventType};
use orbitpay_store::{StoreError, sessions};
use orbitpay_testkit::TestDb;

#[tokio::test]
async fn event_and_deliveries_exist_iff_the_transaction_commits() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    deliveries::set_default_endpoint(&mut conn, Some(DEFAULT))
        .await
        .unwrap();
    let s = sessions::insert(&mut conn, &new_session(account(1)))
        .await
        .unwrap();

    let rolled_back: Result<(), StoreError> = conn
        .transaction(async |conn| {
            let e = outbox::insert(
                conn,
                EventType::SessionCreated,
                Some(s.id),
                serde_json::json!({}),
            )
            .await?;
            assert_eq!(deliveries::for_event(conn, e.event_id).await?.len(), 1);
            Err(StoreError::Corrupt("abort".into()))
        })
        .await;
    assert!(rolled_back.is_err());
    assert!(
        outbox::for_session(&mut conn, s.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        deliveries::claim(&mut conn, "x", LEASE, 10, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let e = conn
        .transaction(async |conn| {
            outbox::insert(
                conn,
                EventType::SessionCreated,
                Some(s.id),
                serde_json::json!({}),
            )
            .await
        })
        .await
        .unwrap();
    let rows = deliveries::for_event(&mut conn, e.event_id).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].url, DEFAULT);
    assert_eq!(rows[0].state, DeliveryState::Pending);

    // insert_all fans out every event too.
    let batch = [
        outbox::event(EventType::PaymentUnmatched, None, serde_json::json!({})),
        outbox::event(EventType::SessionPaid, Some(s.id), serde_json::json!({})),
    ];
    outbox::insert_all(&conn, &batch).await.unwrap();
    for e in &batch {
        assert_eq!(
            deliveries::for_event(&mut conn, e.event_id)
                .await
                .unwrap()
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn a_session_override_replaces_the_default_and_no_endpoint_means_no_delivery() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let mut with_url = new_session(account(1));
    with_url.webhook_url = Some("https://override.example/h".into());
    let s1 = sessions::insert(&mut conn, &with_url).await.unwrap();
    let s2 = sessions::insert(&mut conn, &new_session(account(2)))
        .await
        .unwrap();

    let e2 = outbox::insert(
        &conn,
        EventType::SessionCreated,
        Some(s2.id),
        serde_json::json!({}),
    )
    .await
    .unwrap();
    assert!(
        deliveries::for_event(&mut conn, e2.event_id)
            .await
            .unwrap()
            .is_empty()
    );

    deliveries::set_default_endpoint(&mut conn, Some(DEFAULT))
        .await
        .unwrap();
    let e1 = outbox::insert(
        &conn,
        EventType::SessionCreated,
        Some(s1.id),
        serde_json::json!({}),
    )
    .await
    .unwrap();
    let rows = deliveries::for_event(&mut conn, e1.event_id).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].url, "https://override.example/h");
}

#[tokio::test]
async fn a_lease_excludes_others_until_it_expires_and_a_lost_lease_cannot_decide() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    deliveries::set_default_endpoint(&mut conn, Some(DEFAULT))
        .await
        .unwrap();
    outbox::insert(
        &conn,
        EventType::PaymentUnmatched,
        None,
        serde_json::json!({}),
    )
    .await
    .unwrap();

    let a = deliveries::claim(&mut conn, "a", Duration::from_millis(200), 10, 10)
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].attempt, 1);
    assert!(
        deliveries::start_attempt(&mut conn, &a[0], "a", Duration::from_millis(200))
            .await
            .unwrap()
    );
    assert!(
        deliveries::claim(&mut conn, "b", LEASE, 10, 10)
            .await
            .unwrap()
            .is_empty()
    );

    tokio::time::sleep(Duration::from_millis(400)).await;
    let b = deliveries::claim(&mut conn, "b", LEASE, 10, 10)
        .await
        .unwrap();
    assert_eq!(b.len(), 1, "an expired lease is taken over");
    assert_eq!(b[0].attempt, 2);
    assert!(
        !deliveries::start_attempt(&mut conn, &a[0], "a", LEASE)
            .await
            .unwrap(),
        "a lost lease cannot start another attempt"
    );
    assert!(
        deliveries::start_attempt(&mut conn, &b[0], "b", LEASE)
            .await
            .unwrap()
    );

    // A's late report is recorded but decides nothing.
    assert!(
        !deliveries::record(&mut conn, &a[0], "a", &attempt(200), Outcome::Delivered)
            .await
            .unwrap()
    );
    assert_eq!(
        deliveries::for_event(&mut conn, b[0].event_id)
            .await
            .unwrap()[0]
            .state,
        DeliveryState::Delivering
    );
    assert!(
        deliveries::record(&mut conn, &b[0], "b", &attempt(200), Outcome::Delivered)
            .await
            .unwrap()
    );
    let row = &deliveries::for_event(&mut conn, b[0].event_id)
        .await
        .unwrap()[0];
    assert_eq!(row.state, DeliveryState::Delivered);
    assert_eq!(row.last_status, Some(200));
    assert!(row.lease_owner.is_none() && row.delivered_at.is_some());
    let attempts = deliveries::attempts(&mut conn, row.id).await.unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| (a.attempt, a.lease_owner.as_str()))
            .collect::<Vec<_>>(),
        [(1, "a"), (2, "b")]
    );
}

#[tokio::test]
async fn leases_abandoned_before_sending_spend_no_attempt_and_a_sent_attempt_counts_once() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    deliveries::set_default_endpoint(&mut conn, Some(DEFAULT))
        .await
        .unwrap();
    let event = outbox::insert(
        &conn,
        EventType::PaymentUnmatched,
        None,
        serde_json::json!({}),
    )
    .await
    .unwrap();

    // A kill storm: 40 dispatchers (more than the 30-attempt budget) each lease the delivery
    // and die before sending; every lease expires and is taken over by the next.
    for i in 0..40 {
        let leased = deliveries::claim(&mut conn, &format!("killed-{i}"), Duration::ZERO, 10, 10)
            .await
            .unwrap();
        assert_eq!(
            leased.len(),
            1,
            "lease {i}: the expired lease is taken over"
        );
        assert_eq!(leased[0].attempt, 1, "lease {i}: still the first attempt");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let row = deliveries::for_event(&mut conn, event.event_id)
        .await
        .unwrap()[0]
        .clone();
    assert_eq!((row.attempts, row.state), (0, DeliveryState::Delivering));

    // The next one sends: one attempt, numbered 1, counted once.
    let c = deliveries::claim(&mut conn, "alive", LEASE, 10, 10)
        .await
        .unwrap()
        .remove(0);
    assert!(
        deliveries::start_attempt(&mut conn, &c, "alive", LEASE)
            .await
            .unwrap()
    );
    assert!(
        deliveries::record(
            &mut conn,
            &c,
            "alive",
            &attempt(500),
            Outcome::Retry {
                delay: Duration::ZERO
            }
        )
        .await
        .unwrap()
    );
    let row = deliveries::for_event(&mut conn, event.event_id)
        .await
        .unwrap()[0]
        .clone();
    assert_eq!((row.attempts, row.state), (1, DeliveryState::Pending));
    let made = deliveries::attempts(&mut conn, row.id).await.unwrap();
    assert_eq!(
        made.iter()
            .map(|a| (a.attempt, a.lease_owner.as_str()))
            .collect::<Vec<_>>(),
        [(1, "alive")]
    );
}

#[tokio::test]
async fn one_sessions_events_go_in_order_and_do_not_block_other_sessions() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    deliveries::set_default_endpoint(&mut conn, Some(DEFAULT))
        .await
        .unwrap();
    let s1 = sessions::insert(&mut conn, &new_session(account(1)))
        .await
        .unwrap();
    let s2 = sessions::insert(&mut conn, &new_session(account(2)))
        .await
        .unwrap();
    let first = outbox::insert(
        &conn,
        EventType::SessionCreated,
        Some(s1.id),
        serde_json::json!({}),
    )
    .await
    .unwrap();
    let second = outbox::insert(
        &conn,
        EventType::SessionPaid,
        Some(s1.id),
        serde_json::json!({}),
    )
    .await
    .unwrap();
    let other = outbox::insert(
        &conn,
        EventType::SessionCreated,
        Some(s2.id),
        serde_json::json!({}),
    )
    .await
    .unwrap();

    let c = deliveries::claim(&mut conn, "a", LEASE, 10, 10)
        .await
        .unwrap();
    let ids: Vec<_> = c.iter().map(|c| c.event_id).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&first.event_id) && ids.contains(&other.event_id));

    // The first fails and is retried later: the second still waits.
    let failed = c.iter().find(|c| c.event_id == first.event_id).unwrap();
    send(
        &mut conn,
        failed,
        "a",
        500,
        Outcome::Retry {
            delay: Duration::ZERO,
        },
    )
    .await;
    let c = deliveries::claim(&mut conn, "a", LEASE, 10, 10)
        .await
        .unwrap();
    assert_eq!(
        c.iter().map(|c| c.event_id).collect::<Vec<_>>(),
        [first.event_id]
    );

    // Dead releases the next one.
    send(&mut conn, &c[0], "a", 500, Outcome::Dead).await;
    let c = deliveries::claim(&mut conn, "a", LEASE, 10, 10)
        .await
        .unwrap();
    assert_eq!(
        c.iter().map(|c| c.event_id).collect::<Vec<_>>(),
        [second.event_id]
    );
}

#[tokio::test]
async fn a_disabled_endpoint_is_not_claimed_until_enabled() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    deliveries::set_default_endpoint(&mut conn, Some(DEFAULT))
        .await
        .unwrap();
    outbox::insert(
        &conn,
        EventType::PaymentUnmatched,
        None,
        serde_json::json!({}),
    )
    .await
    .unwrap();
    deliveries::disable_endpoint(&mut conn, DEFAULT, "410 Gone")
        .await
        .unwrap();
    assert!(
        deliveries::claim(&mut conn, "a", LEASE, 10, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        deliveries::enable_endpoint(&mut conn, DEFAULT)
            .await
            .unwrap()
    );
    assert!(
        !deliveries::enable_endpoint(&mut conn, DEFAULT)
            .await
            .unwrap()
    );
    assert_eq!(
        deliveries::claim(&mut conn, "a", LEASE, 10, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}
