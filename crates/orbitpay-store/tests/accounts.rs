//! Watched accounts as data: idempotent adds, the config applied without removing anything,
//! keyset listing, and removal that never leaves an open session behind unnoticed.

mod common;

use common::{account, new_session, tx_hash};
use orbitpay_core::AccountId;
use orbitpay_store::accounts::{self, AddedBy, Created, NewAccount, Removed};
use orbitpay_store::cursors;
use orbitpay_testkit::TestDb;

fn api(address: AccountId, start: &str, token: i64) -> NewAccount {
    NewAccount {
        address,
        label: "shop".into(),
        start_cursor: start.into(),
        start_token: Some(token),
        added_by: AddedBy::Api,
    }
}

#[tokio::test]
async fn an_add_is_idempotent_and_a_different_body_conflicts_without_changing_anything() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let a = account(1);

    let first = accounts::create(&mut conn, &api(a, "now", 500))
        .await
        .unwrap();
    let Created::Created(row) = first else {
        panic!("first add: {first:?}")
    };
    assert_eq!(row.start_token, Some(500));
    assert_eq!(cursors::get(&mut conn, &a).await.unwrap(), Some(500));

    // The same body again ("now" resolving elsewhere by now): the row as it was.
    let again = accounts::create(&mut conn, &api(a, "now", 900))
        .await
        .unwrap();
    assert_eq!(again, Created::Existing(row.clone()));

    let other_start = accounts::create(&mut conn, &api(a, "42", 42))
        .await
        .unwrap();
    assert_eq!(other_start, Created::Conflict(row.clone()));
    let mut relabelled = api(a, "now", 500);
    relabelled.label = "another".into();
    assert_eq!(
        accounts::create(&mut conn, &relabelled).await.unwrap(),
        Created::Conflict(row.clone())
    );

    assert_eq!(accounts::find(&mut conn, &a).await.unwrap(), Some(row));
    assert_eq!(cursors::get(&mut conn, &a).await.unwrap(), Some(500));
}

#[tokio::test]
async fn the_database_refuses_an_address_that_is_not_a_g_account() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    use diesel_async::RunQueryDsl as _;
    let muxed = "MAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let refused = diesel::sql_query(format!(
        "INSERT INTO watched_accounts (address, start_cursor, added_by) VALUES ('{muxed}', 'now', 'api')"
    ))
    .execute(&mut conn)
    .await;
    assert!(refused.is_err(), "a muxed address was stored");
}

#[tokio::test]
async fn the_config_is_applied_as_an_upsert_that_keeps_api_accounts_and_stored_cursors() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let (by_api, old, fresh) = (account(1), account(2), account(3));
    accounts::create(&mut conn, &api(by_api, "7", 7))
        .await
        .unwrap();
    // Ingested before accounts were data: its cursor wins over the config's start.
    cursors::set(&conn, &old, 9_000).await.unwrap();

    let config = |a: AccountId| NewAccount {
        address: a,
        label: String::new(),
        start_cursor: "100".into(),
        start_token: Some(100),
        added_by: AddedBy::Config,
    };
    let added = accounts::apply_config(&mut conn, &[config(old), config(fresh)])
        .await
        .unwrap();
    assert_eq!(added, 2);
    // Applied again (a restart), and with the API's account missing from the config.
    assert_eq!(
        accounts::apply_config(&mut conn, &[config(old), config(fresh)])
            .await
            .unwrap(),
        0
    );

    let all = accounts::all(&mut conn).await.unwrap();
    let addresses: Vec<String> = all.iter().map(|r| r.address.clone()).collect();
    let mut expected = vec![by_api.to_string(), old.to_string(), fresh.to_string()];
    expected.sort();
    assert_eq!(addresses, expected);
    assert_eq!(cursors::get(&mut conn, &old).await.unwrap(), Some(9_000));
    assert_eq!(cursors::get(&mut conn, &fresh).await.unwrap(), Some(100));
    assert_eq!(cursors::get(&mut conn, &by_api).await.unwrap(), Some(7));
}

#[tokio::test]
async fn accounts_are_listed_by_address_in_pages() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    for seed in 1..=5 {
        accounts::create(&mut conn, &api(account(seed), "1", 1))
            .await
            .unwrap();
    }
    let first = accounts::list(&mut conn, None, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = accounts::list(&mut conn, Some(&first[1].address), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 3);
    assert!(rest.iter().all(|r| r.address > first[1].address));
}

#[tokio::test]
async fn removal_is_refused_while_sessions_are_open_unless_pending_ones_may_expire() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let a = account(1);
    accounts::create(&mut conn, &api(a, "10", 10))
        .await
        .unwrap();
    let s = orbitpay_store::sessions::insert(&mut conn, &new_session(a))
        .await
        .unwrap();

    assert_eq!(
        accounts::remove(&mut conn, &a, false).await.unwrap(),
        Removed::OpenSessions {
            pending: 1,
            processing: 0
        }
    );
    assert!(accounts::find(&mut conn, &a).await.unwrap().is_some());

    let Removed::Removed { expired } = accounts::remove(&mut conn, &a, true).await.unwrap() else {
        panic!("not removed")
    };
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].id, s.id);
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM sessions WHERE id = '{}' AND status = 'expired'",
            s.id
        ))
        .await,
        1
    );
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM outbox_events WHERE session_id = '{}' AND event_type = 'session.expired'",
            s.id
        ))
        .await,
        1
    );
    assert_eq!(accounts::find(&mut conn, &a).await.unwrap(), None);
    // The cursor stays (the account's history is still the account's).
    assert_eq!(cursors::get(&mut conn, &a).await.unwrap(), Some(10));
    assert_eq!(
        accounts::remove(&mut conn, &a, true).await.unwrap(),
        Removed::NotWatched
    );
}

#[tokio::test]
async fn a_processing_session_blocks_removal_even_when_pending_ones_may_expire() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let a = account(1);
    accounts::create(&mut conn, &api(a, "10", 10))
        .await
        .unwrap();
    let claimed = orbitpay_store::sessions::insert(&mut conn, &new_session(a))
        .await
        .unwrap();
    let pending = orbitpay_store::sessions::insert(&mut conn, &new_session(a))
        .await
        .unwrap();
    db.exec(&format!(
        "UPDATE sessions SET status = 'processing', processing_tx_hash = '{}',
           processing_started_at = now(), claim_source = 'stream' WHERE id = '{}'",
        tx_hash(9),
        claimed.id
    ))
    .await;

    assert_eq!(
        accounts::remove(&mut conn, &a, true).await.unwrap(),
        Removed::OpenSessions {
            pending: 1,
            processing: 1
        }
    );
    assert!(accounts::find(&mut conn, &a).await.unwrap().is_some());
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM sessions WHERE id = '{}' AND status = 'pending'",
            pending.id
        ))
        .await,
        1
    );
}

#[tokio::test]
async fn a_re_add_starts_at_its_new_start_not_where_the_removed_watch_stopped() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let a = account(1);
    accounts::create(&mut conn, &api(a, "10", 10))
        .await
        .unwrap();
    cursors::set(&conn, &a, 50).await.unwrap();
    accounts::remove(&mut conn, &a, false).await.unwrap();

    // Re-added at "now" = 80: what was paid between 50 and 80, while unwatched, is not read.
    accounts::create(&mut conn, &api(a, "now", 80))
        .await
        .unwrap();
    assert_eq!(cursors::get(&mut conn, &a).await.unwrap(), Some(80));
}
