//! The operator's side of the delivery queue, and the per-endpoint bound on claims.

mod common;

use common::DEFAULT_ENDPOINT as DEFAULT;
use common::{LEASE, send, unmatched_event as unmatched};

use orbitpay_store::deliveries::{self, Outcome};
use orbitpay_store::models::DeliveryState;

use orbitpay_store::webhook_admin::{self, Retried};
use orbitpay_testkit::TestDb;

#[tokio::test]
async fn one_endpoint_never_has_more_than_its_bound_in_flight() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    deliveries::set_default_endpoint(&mut conn, Some(DEFAULT))
        .await
        .unwrap();
    for _ in 0..5 {
        unmatched(&mut conn).await;
    }
    let first = deliveries::claim(&mut conn, "a", LEASE, 10, 2)
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    // Another dispatcher sees the live leases.
    assert!(
        deliveries::claim(&mut conn, "b", LEASE, 10, 2)
            .await
            .unwrap()
            .is_empty()
    );
    send(&mut conn, &first[0], "a", 200, Outcome::Delivered).await;
    assert_eq!(
        deliveries::claim(&mut conn, "b", LEASE, 10, 2)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_dead_delivery_is_retried_by_an_admin_with_a_fresh_budget() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    deliveries::set_default_endpoint(&mut conn, Some(DEFAULT))
        .await
        .unwrap();
    unmatched(&mut conn).await;
    let c = deliveries::claim(&mut conn, "a", LEASE, 10, 4)
        .await
        .unwrap();
    let id = c[0].id;
    assert_eq!(
        webhook_admin::retry(&mut conn, id).await.unwrap(),
        Retried::NotDead(DeliveryState::Delivering)
    );
    send(&mut conn, &c[0], "a", 500, Outcome::Dead).await;
    assert_eq!(
        webhook_admin::list(&mut conn, Some(DeliveryState::Dead), 0, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    let Retried::Queued(row) = webhook_admin::retry(&mut conn, id).await.unwrap() else {
        panic!("a dead delivery is retried");
    };
    assert_eq!((row.state, row.attempts), (DeliveryState::Pending, 0));
    assert!(row.retried_at.is_some());
    let again = deliveries::claim(&mut conn, "a", LEASE, 10, 4)
        .await
        .unwrap();
    assert_eq!((again[0].id, again[0].attempt), (id, 1));
    assert!(again[0].budget_from >= row.created_at);
    // The first attempt stays on record.
    assert_eq!(deliveries::attempts(&mut conn, id).await.unwrap().len(), 1);
    assert_eq!(
        webhook_admin::retry(&mut conn, 999_999).await.unwrap(),
        Retried::NotFound
    );
}

#[tokio::test]
async fn redelivering_an_event_requeues_finished_deliveries_and_fans_out_if_it_had_none() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    // Written before any endpoint existed: no delivery.
    let early = unmatched(&mut conn).await;
    deliveries::set_default_endpoint(&mut conn, Some(DEFAULT))
        .await
        .unwrap();
    let later = unmatched(&mut conn).await;
    for c in deliveries::claim(&mut conn, "a", LEASE, 10, 4)
        .await
        .unwrap()
    {
        send(&mut conn, &c, "a", 200, Outcome::Delivered).await;
    }

    let rows = webhook_admin::redeliver_event(&mut conn, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, DeliveryState::Pending);
    assert_eq!(rows[0].delivered_at, None);
    let rows = webhook_admin::redeliver_event(&mut conn, early)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((rows.len(), rows[0].url.as_str()), (1, DEFAULT));
    assert_eq!(
        webhook_admin::redeliver_event(&mut conn, uuid::Uuid::now_v7())
            .await
            .unwrap(),
        None
    );
    let ids: Vec<_> = deliveries::claim(&mut conn, "a", LEASE, 10, 4)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.event_id)
        .collect();
    assert_eq!(ids.len(), 2);
}
