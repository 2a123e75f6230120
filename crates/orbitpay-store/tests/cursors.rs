mod common;

use common::account;
use orbitpay_store::cursors;
use orbitpay_testkit::TestDb;

#[tokio::test]
async fn a_cursor_only_moves_forward() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let a = account(1);

    assert_eq!(cursors::get(&mut conn, &a).await.unwrap(), None);
    assert_eq!(cursors::set(&conn, &a, 100).await.unwrap(), 100);
    assert_eq!(cursors::set(&conn, &a, 250).await.unwrap(), 250);
    // A late or replaying writer cannot rewind it.
    assert_eq!(cursors::set(&conn, &a, 120).await.unwrap(), 250);
    assert_eq!(cursors::get(&mut conn, &a).await.unwrap(), Some(250));
    // Paging tokens are TOIDs: far beyond i32.
    assert_eq!(cursors::set(&conn, &a, i64::MAX).await.unwrap(), i64::MAX);
}

#[tokio::test]
async fn cursors_are_per_account() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;

    cursors::set(&conn, &account(1), 500).await.unwrap();
    cursors::set(&conn, &account(2), 7).await.unwrap();

    assert_eq!(
        cursors::get(&mut conn, &account(1)).await.unwrap(),
        Some(500)
    );
    assert_eq!(cursors::get(&mut conn, &account(2)).await.unwrap(), Some(7));
}

#[tokio::test]
async fn a_negative_token_is_refused() {
    let db = TestDb::new().await;
    let conn = db.conn().await;
    assert!(cursors::set(&conn, &account(1), -1).await.is_err());
}

#[tokio::test]
async fn the_first_token_is_where_the_cursor_began_and_never_moves() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let a = account(1);

    assert_eq!(cursors::span(&mut conn, &a).await.unwrap(), None);
    cursors::set(&conn, &a, 100).await.unwrap();
    cursors::set(&conn, &a, 250).await.unwrap();
    cursors::set(&conn, &a, 120).await.unwrap();
    assert_eq!(
        cursors::span(&mut conn, &a).await.unwrap(),
        Some(cursors::Span {
            first: Some(100),
            current: 250
        })
    );
}
