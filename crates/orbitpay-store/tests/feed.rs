//! The event feed: commit order, never a skipped event, and the session snapshot each event
//! carries.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{account, new_session, tx_hash, unmatched_event};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, SimpleAsyncConnection as _};
use orbitpay_store::outbox::{self, EventType, FeedError};
use orbitpay_store::{StoreError, sessions};
use orbitpay_testkit::TestDb;
use uuid::Uuid;

async fn page(
    conn: &mut AsyncPgConnection,
    after: i64,
) -> Vec<orbitpay_store::models::OutboxEventRow> {
    outbox::list_after(conn, after, 1000)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn an_event_that_commits_after_a_later_one_is_still_served() {
    let db = TestDb::new().await;
    let (mut early, mut late, mut reader) = (db.conn().await, db.conn().await, db.conn().await);

    // `early` takes the lower id but commits last.
    early.batch_execute("BEGIN").await.unwrap();
    let first = unmatched_event(&mut early).await;
    late.batch_execute("BEGIN").await.unwrap();
    let second = unmatched_event(&mut late).await;
    late.batch_execute("COMMIT").await.unwrap();

    let seen = page(&mut reader, 0).await;
    let mut after = seen.last().map_or(0, |e| e.id);
    let mut ids: Vec<Uuid> = seen.iter().map(|e| e.event_id).collect();

    early.batch_execute("COMMIT").await.unwrap();
    // Other tests' open transactions on the cluster may hold the feed back a moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while ids.len() < 2 && tokio::time::Instant::now() < deadline {
        let rest = page(&mut reader, after).await;
        after = rest.last().map_or(after, |e| e.id);
        ids.extend(rest.iter().map(|e| e.event_id));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    assert_eq!(ids.len(), 2, "each event once: {ids:?}");
    assert!(ids.contains(&first) && ids.contains(&second));
    assert!(page(&mut reader, after).await.is_empty());
}

#[tokio::test]
async fn a_reader_polling_beside_concurrent_writers_sees_every_event_once() {
    const WRITERS: usize = 6;
    const PER_WRITER: usize = 40;
    let db = TestDb::new().await;
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let mut conn = db.conn().await;
        writers.spawn(async move {
            let mut written = Vec::new();
            for i in 0..PER_WRITER {
                let id = conn
                    .transaction(async |conn| {
                        let id = unmatched_event(conn).await;
                        // Hold the transaction open a little, varied, so commits interleave.
                        tokio::time::sleep(Duration::from_micros(
                            ((w * 7 + i * 13) % 5) as u64 * 300,
                        ))
                        .await;
                        Ok::<_, StoreError>(id)
                    })
                    .await
                    .unwrap();
                written.push(id);
            }
            written
        });
    }
    let mut reader = db.conn().await;
    let (mut after, mut seen) = (0, Vec::new());
    let mut all = HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let done = writers.is_empty();
        while let Some(Ok(ids)) = writers.try_join_next() {
            all.extend(ids);
        }
        let rows = page(&mut reader, after).await;
        if let Some(last) = rows.last() {
            after = last.id;
        }
        seen.extend(rows.into_iter().map(|e| e.event_id));
        if done && seen.len() >= all.len() || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(all.len(), WRITERS * PER_WRITER);
    let distinct: HashSet<Uuid> = seen.iter().copied().collect();
    assert_eq!(distinct.len(), seen.len(), "no event served twice");
    assert_eq!(distinct, all, "every committed event served");
}

#[tokio::test]
async fn an_unknown_cursor_is_refused_not_read_as_the_start() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    unmatched_event(&mut conn).await;
    assert_eq!(
        outbox::list_after(&mut conn, 999_999, 10).await.unwrap(),
        Err(FeedError::UnknownCursor(999_999))
    );
}

#[tokio::test]
async fn a_session_event_carries_the_committed_snapshot_with_version_and_payments() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let s = sessions::insert(&mut conn, &new_session(account(1)))
        .await
        .unwrap();
    conn.batch_execute(&format!(
        "INSERT INTO payments (session_id, tx_hash, amount, asset, ledger)
         VALUES ('{id}', '{tx}', 150000000, 'native', 7);
         UPDATE sessions SET amount_received = 150000000, status = 'paid' WHERE id = '{id}'",
        id = s.id,
        tx = tx_hash(9),
    ))
    .await
    .unwrap();
    let e = outbox::insert(
        &conn,
        EventType::SessionLatePayment,
        Some(s.id),
        // The event's own fields stay as given, even where the snapshot has the same name.
        serde_json::json!({ "amount": "3.0000000", "tx_hash": tx_hash(9) }),
    )
    .await
    .unwrap();
    let p = &e.payload;
    assert_eq!(p["amount"], "3.0000000");
    assert_eq!(p["tx_hash"], tx_hash(9));
    let snap = &p["session"];
    assert_eq!(snap["status"], "paid");
    assert_eq!(snap["version"], s.version + 1);
    assert_eq!(snap["amount"], "10.0000000");
    assert_eq!(snap["amount_received"], "15.0000000");
    assert_eq!(snap["overpaid"], true);
    assert_eq!(snap["payments"][0]["amount"], "15.0000000");
    assert_eq!(snap["payments"][0]["ledger"], 7);
    assert_eq!(snap["metadata"]["cart"], 7);

    let unmatched = outbox::insert(
        &conn,
        EventType::PaymentUnmatched,
        None,
        serde_json::json!({ "amount": "1.0000000" }),
    )
    .await
    .unwrap();
    assert_eq!(
        unmatched.payload,
        serde_json::json!({ "amount": "1.0000000" })
    );
}

#[tokio::test]
async fn a_transaction_open_in_another_database_does_not_hold_the_feed_back() {
    let (db, other) = (TestDb::new().await, TestDb::new().await);
    let mut elsewhere = other.conn().await;
    elsewhere.batch_execute("BEGIN").await.unwrap();
    elsewhere
        .batch_execute("SELECT pg_current_xact_id()")
        .await
        .unwrap();
    let mut conn = db.conn().await;
    let id = unmatched_event(&mut conn).await;
    let served: Vec<Uuid> = page(&mut conn, 0)
        .await
        .iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(served, [id]);
    elsewhere.batch_execute("ROLLBACK").await.unwrap();
}

async fn unmatched_row(conn: &mut AsyncPgConnection, op_id: i64) {
    conn.batch_execute(&format!(
        "INSERT INTO unmatched_payments (op_id, tx_hash, account, reason)
         VALUES ({op_id}, '{}', '{}', 'no_reference')",
        tx_hash(1),
        account(1)
    ))
    .await
    .unwrap();
}

async fn unmatched_page(
    conn: &mut AsyncPgConnection,
    after: i64,
) -> Vec<orbitpay_store::models::UnmatchedPaymentRow> {
    orbitpay_store::unmatched::list_after(conn, after, 1000)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn an_unmatched_payment_that_commits_after_a_later_one_is_still_served() {
    let db = TestDb::new().await;
    let (mut early, mut late, mut reader) = (db.conn().await, db.conn().await, db.conn().await);

    // `early` takes the lower id but commits last.
    early.batch_execute("BEGIN").await.unwrap();
    unmatched_row(&mut early, 1).await;
    late.batch_execute("BEGIN").await.unwrap();
    unmatched_row(&mut late, 2).await;
    late.batch_execute("COMMIT").await.unwrap();

    let seen = unmatched_page(&mut reader, 0).await;
    let mut after = seen.last().map_or(0, |u| u.id);
    let mut ops: Vec<i64> = seen.iter().map(|u| u.op_id).collect();

    early.batch_execute("COMMIT").await.unwrap();
    // Other tests' open transactions on the cluster may hold the feed back a moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while ops.len() < 2 && tokio::time::Instant::now() < deadline {
        let rest = unmatched_page(&mut reader, after).await;
        after = rest.last().map_or(after, |u| u.id);
        ops.extend(rest.iter().map(|u| u.op_id));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    ops.sort_unstable();
    assert_eq!(ops, [1, 2], "each row once");
    assert!(unmatched_page(&mut reader, after).await.is_empty());
    assert_eq!(
        orbitpay_store::unmatched::list_after(&mut reader, after + 1000, 10)
            .await
            .unwrap(),
        Err(FeedError::UnknownCursor(after + 1000))
    );
}
