//! Sessions round-trip through the database with their u64 references intact.

mod common;

use common::{account, new_session};
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use orbitpay_core::{Reference, SessionStatus};
use orbitpay_store::numeric::{I128Numeric, U64Numeric};
use orbitpay_store::sessions;
use orbitpay_testkit::TestDb;

#[tokio::test]
async fn a_new_session_is_pending_with_a_random_reference() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let new = new_session(account(1));

    let a = sessions::insert(&mut conn, &new).await.unwrap();
    let b = sessions::insert(&mut conn, &new).await.unwrap();

    assert_eq!(a.status, SessionStatus::Pending);
    assert_eq!(a.processing, None);
    assert_eq!(a.amount, new.amount);
    assert!(a.amount_received.is_zero());
    assert_eq!(a.metadata, new.metadata);
    assert_ne!(a.reference, b.reference);
    assert_ne!(a.id, b.id);
    assert_eq!(
        sessions::find(&mut conn, a.id).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        sessions::find_by_reference(&mut conn, &a.account, a.reference)
            .await
            .unwrap(),
        Some(a)
    );
}

#[tokio::test]
async fn references_above_i64_max_round_trip_exactly() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let new = new_session(account(2));

    for value in [i64::MAX as u64 + 1, u64::MAX - 1, u64::MAX, 0, 1] {
        let reference = Reference(value);
        let inserted = sessions::insert_with_reference(&mut conn, &new, reference)
            .await
            .unwrap();
        assert_eq!(inserted.reference, reference);

        let found = sessions::find_by_reference(&mut conn, &new.account, reference)
            .await
            .unwrap()
            .expect("found by its reference");
        assert_eq!(found.id, inserted.id);
        assert_eq!(found.reference, reference);
    }

    #[derive(QueryableByName)]
    struct AsText {
        #[diesel(sql_type = Text)]
        t: String,
    }
    let max: AsText = diesel::sql_query("SELECT max(reference)::text AS t FROM sessions")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(max.t, "18446744073709551615", "stored as the exact decimal");
}

#[tokio::test]
async fn the_same_reference_on_another_account_is_a_different_session() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let reference = Reference(u64::MAX);

    let a = sessions::insert_with_reference(&mut conn, &new_session(account(1)), reference)
        .await
        .unwrap();
    let b = sessions::insert_with_reference(&mut conn, &new_session(account(2)), reference)
        .await
        .unwrap();
    let taken =
        sessions::insert_with_reference(&mut conn, &new_session(account(1)), reference).await;

    assert_ne!(a.id, b.id);
    assert_eq!(
        taken.unwrap_err().constraint_name(),
        Some("sessions_account_reference_key")
    );
    assert_eq!(
        sessions::find_by_reference(&mut conn, &account(3), reference)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn numeric_columns_round_trip_u64_and_i128_through_postgres() {
    use diesel::sql_types::{Nullable, Numeric};

    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let mut u64s = vec![
        0,
        1,
        9_999,
        10_000,
        i64::MAX as u64,
        i64::MAX as u64 + 1,
        u64::MAX,
    ];
    u64s.extend((0..200).map(|_| rand::random::<u64>()));
    for v in u64s {
        let back: U64Numeric =
            diesel::select(diesel::dsl::sql::<Numeric>("").bind::<Numeric, _>(U64Numeric(v)))
                .get_result(&mut conn)
                .await
                .unwrap();
        assert_eq!(back, U64Numeric(v));
    }
    let mut i128s = vec![
        i128::MIN,
        i128::MIN + 1,
        -1,
        0,
        1,
        i128::MAX,
        i64::MIN as i128 - 1,
    ];
    i128s.extend((0..200).map(|_| rand::random::<i128>()));
    for v in i128s {
        let back: Option<I128Numeric> = diesel::select(
            diesel::dsl::sql::<Nullable<Numeric>>("").bind::<Numeric, _>(I128Numeric(v)),
        )
        .get_result(&mut conn)
        .await
        .unwrap();
        assert_eq!(back, Some(I128Numeric(v)));
    }
}

#[tokio::test]
async fn a_numeric_that_is_not_a_u64_is_refused_not_truncated() {
    use diesel::sql_types::Numeric;

    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    for sql in ["18446744073709551616", "-1", "1.5", "'NaN'::numeric"] {
        let result = diesel::select(diesel::dsl::sql::<Numeric>(sql))
            .get_result::<U64Numeric>(&mut conn)
            .await;
        assert!(result.is_err(), "{sql} must not load as u64: {result:?}");
    }
}
