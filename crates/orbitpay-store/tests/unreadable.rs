//! Unreadable records: stored with the cursor move that passes them, listed oldest first,
//! bumped and resolved by the reconciliation job's calls.

mod common;

use common::account;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use orbitpay_core::AccountId;
use orbitpay_store::models::NewUnreadableRecord;
use orbitpay_store::{cursors, unreadable};
use orbitpay_testkit::TestDb;

fn new(account: AccountId, token: i64) -> NewUnreadableRecord {
    NewUnreadableRecord {
        account: account.to_string(),
        paging_token: token,
        raw: b"{\"type\":\"payment\",garb".to_vec(),
        raw_truncated: false,
        parse_error: "not JSON: expected value".into(),
        attempts: 5,
    }
}

async fn tokens(conn: &mut AsyncPgConnection, of: Option<&AccountId>) -> Vec<i64> {
    unreadable::list_unresolved(conn, of, 100)
        .await
        .unwrap()
        .iter()
        .map(|r| r.paging_token)
        .collect()
}

#[tokio::test]
async fn storing_moves_the_cursor_in_the_same_transaction_and_a_redelivery_adds_attempts() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let a = account(1);
    cursors::set(&conn, &a, 10).await.unwrap();
    assert_eq!(
        unreadable::record_and_advance(&mut conn, &a, &new(a, 20))
            .await
            .unwrap(),
        20
    );
    assert_eq!(cursors::get(&mut conn, &a).await.unwrap(), Some(20));
    let row = unreadable::find(&mut conn, &a, 20).await.unwrap().unwrap();
    assert_eq!(
        (row.attempts, row.raw_truncated, row.resolved_at),
        (5, false, None)
    );
    assert_eq!(row.raw, new(a, 20).raw);
    assert_eq!(row.first_seen, row.last_seen);

    // The same record delivered again (an ack lost after the commit): one row.
    unreadable::record_and_advance(&mut conn, &a, &new(a, 20))
        .await
        .unwrap();
    let again = unreadable::find(&mut conn, &a, 20).await.unwrap().unwrap();
    assert_eq!(again.attempts, 10);
    assert!(again.last_seen >= row.last_seen);
    assert_eq!(again.first_seen, row.first_seen);
    assert_eq!(tokens(&mut conn, None).await, vec![20]);
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_neither_the_row_nor_the_cursor() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let a = account(1);
    cursors::set(&conn, &a, 10).await.unwrap();
    let failed: Result<(), orbitpay_store::StoreError> = conn
        .transaction(async |conn| {
            unreadable::record_and_advance(conn, &a, &new(a, 20)).await?;
            // Anything later in the enclosing transaction failing.
            diesel::sql_query("SELECT 1/0").execute(conn).await?;
            Ok(())
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(cursors::get(&mut conn, &a).await.unwrap(), Some(10));
    assert!(unreadable::find(&mut conn, &a, 20).await.unwrap().is_none());
}

#[tokio::test]
async fn raw_bytes_are_capped_at_64_kib() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let a = account(1);
    let mut big = new(a, 7);
    big.raw = vec![b'x'; unreadable::MAX_RAW_BYTES + 10];
    unreadable::record(&mut conn, &big).await.unwrap();
    let row = unreadable::find(&mut conn, &a, 7).await.unwrap().unwrap();
    assert_eq!(
        (row.raw.len(), row.raw_truncated),
        (unreadable::MAX_RAW_BYTES, true)
    );
    // The table refuses more, whoever writes it.
    let refused = diesel::sql_query(
        "INSERT INTO unreadable_records (account, paging_token, raw, parse_error, attempts)
         VALUES ('x', 8, decode(repeat('78', 65537), 'hex'), 'e', 1)",
    )
    .execute(&mut conn)
    .await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn the_reconciliation_calls_list_oldest_first_bump_and_resolve() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let (a, b) = (account(1), account(2));
    for (acc, token) in [(a, 30), (b, 10), (a, 20)] {
        unreadable::record(&mut conn, &new(acc, token))
            .await
            .unwrap();
    }
    // Inserted in that order: first sighting decides, not the token.
    assert_eq!(tokens(&mut conn, None).await, vec![30, 10, 20]);
    assert_eq!(tokens(&mut conn, Some(&a)).await, vec![30, 20]);
    let one = unreadable::list_unresolved(&mut conn, None, 0)
        .await
        .unwrap();
    assert_eq!(one.len(), 1, "the limit is clamped to at least 1");
    assert_eq!(unreadable::count_unresolved(&mut conn).await.unwrap(), 3);

    let bumped = unreadable::bump_attempt(&mut conn, &a, 30, "still not JSON")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (bumped.attempts, bumped.parse_error.as_str()),
        (6, "still not JSON")
    );

    assert!(unreadable::mark_resolved(&mut conn, &a, 30).await.unwrap());
    assert!(!unreadable::mark_resolved(&mut conn, &a, 30).await.unwrap());
    assert!(!unreadable::mark_resolved(&mut conn, &b, 30).await.unwrap());
    assert!(
        unreadable::bump_attempt(&mut conn, &a, 30, "x")
            .await
            .unwrap()
            .is_none(),
        "a resolved record is not bumped"
    );
    assert_eq!(tokens(&mut conn, None).await, vec![10, 20]);
    assert_eq!(unreadable::count_unresolved(&mut conn).await.unwrap(), 2);
    let resolved = unreadable::find(&mut conn, &a, 30).await.unwrap().unwrap();
    assert!(resolved.resolved_at.is_some());
}
