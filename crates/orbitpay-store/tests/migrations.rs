//! The migrations apply, revert completely and re-apply; the schema check
//! tells current, behind and newer apart.

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use orbitpay_store::migrations::known_versions;
use orbitpay_store::{
    SchemaStatus, StoreError, pending_or_unknown, revert_all_migrations, run_migrations,
};
use orbitpay_testkit::TestDb;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Tables, views, types and functions we created (diesel's bookkeeping excluded).
async fn our_objects(db: &TestDb) -> i64 {
    let mut conn = db.conn().await;
    let row: Count = diesel::sql_query(
        "SELECT (SELECT count(*) FROM pg_tables WHERE schemaname = 'public'
                   AND tablename <> '__diesel_schema_migrations')
              + (SELECT count(*) FROM pg_views WHERE schemaname = 'public')
              + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = 'public' AND t.typtype = 'e')
              + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                   WHERE n.nspname = 'public') AS n",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    row.n
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again_on_a_fresh_database() {
    let db = TestDb::empty().await;
    let all = known_versions().unwrap();
    assert_eq!(all.len(), 24);
    assert_eq!(our_objects(&db).await, 0);

    assert_eq!(run_migrations(db.url()).await.unwrap(), all);
    // 14 tables, 1 view, 3 enums, 4 functions (the touch trigger's, amount text, feed bound,
    // the watched accounts' NOTIFY trigger's).
    assert_eq!(our_objects(&db).await, 22);
    assert_eq!(
        pending_or_unknown(&mut db.conn().await).await.unwrap(),
        SchemaStatus::Current
    );

    let mut reverted = revert_all_migrations(db.url()).await.unwrap();
    reverted.sort();
    assert_eq!(reverted, all);
    assert_eq!(our_objects(&db).await, 0, "down.sql leaves nothing behind");
    assert_eq!(
        pending_or_unknown(&mut db.conn().await).await.unwrap(),
        SchemaStatus::Behind {
            pending: all.clone()
        }
    );

    assert_eq!(run_migrations(db.url()).await.unwrap(), all);
    assert_eq!(our_objects(&db).await, 22);
    assert!(
        run_migrations(db.url()).await.unwrap().is_empty(),
        "idempotent"
    );
}

#[tokio::test]
async fn a_database_never_migrated_is_behind() {
    let db = TestDb::empty().await;
    assert_eq!(
        pending_or_unknown(&mut db.conn().await).await.unwrap(),
        SchemaStatus::Behind {
            pending: known_versions().unwrap()
        }
    );
}

#[tokio::test]
async fn a_schema_from_a_newer_release_is_refused() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    conn.batch_execute(
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('99991231235959')",
    )
    .await
    .unwrap();

    assert_eq!(
        pending_or_unknown(&mut conn).await.unwrap(),
        SchemaStatus::Newer {
            unknown: vec!["99991231235959".into()]
        }
    );
    match run_migrations(db.url()).await {
        Err(StoreError::SchemaTooNew { unknown }) => assert_eq!(unknown, ["99991231235959"]),
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[tokio::test]
async fn payer_bytes_migration_backfills_hash_memo_bytes_and_bounds_memo_bytes() {
    const DIR: &str = "../../migrations/2025-12-01-100000_unmatched_payer_bytes";
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let down = std::fs::read_to_string(format!("{DIR}/down.sql")).unwrap();
    let up = std::fs::read_to_string(format!("{DIR}/up.sql")).unwrap();
    conn.batch_execute(&down).await.unwrap();
    let hex = "ab".repeat(32);
    conn.batch_execute(&format!(
        "INSERT INTO unmatched_payments (op_id, tx_hash, account, memo_type, memo_value, reason)
         VALUES (1, '{hex}', 'G', 'hash', '{hex}', 'no_reference')"
    ))
    .await
    .unwrap();
    conn.batch_execute(&up).await.unwrap();

    let row: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM unmatched_payments WHERE memo_bytes = '\\x{hex}'::bytea"
    ))
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(row.n, 1, "a legacy hash memo gets its bytes");
    let too_long = conn
        .batch_execute(&format!(
            "INSERT INTO unmatched_payments (op_id, tx_hash, account, memo_bytes, reason)
             VALUES (2, '{hex}', 'G', '\\x{}'::bytea, 'no_reference')",
            "00".repeat(33)
        ))
        .await;
    assert!(too_long.is_err(), "memo bytes are at most 32");
}

#[tokio::test]
async fn operations_keyed_by_account_keeps_rows_and_goes_back_only_while_it_can() {
    const DIR: &str = "../../migrations/2026-12-06-120000_operations_keyed_by_account";
    let (shop, other) = (
        format!("G{}", "A".repeat(55)),
        format!("G{}", "B".repeat(55)),
    );
    let hex = "ab".repeat(32);
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let down = std::fs::read_to_string(format!("{DIR}/down.sql")).unwrap();
    let up = std::fs::read_to_string(format!("{DIR}/up.sql")).unwrap();
    conn.batch_execute(&down).await.unwrap();
    // Rows written before: an operation credited to a session of `shop`, one unmatched.
    conn.batch_execute(&format!(
        "INSERT INTO sessions (id, account, reference, asset, amount, expires_at)
         VALUES ('00000000-0000-0000-0000-000000000001', '{shop}', 1, 'native', 10, now());
         INSERT INTO payments (id, session_id, tx_hash, amount, asset, ledger) OVERRIDING SYSTEM VALUE
         VALUES (1, '00000000-0000-0000-0000-000000000001', '{hex}', 10, 'native', 5);
         INSERT INTO payment_operations (op_id, payment_id, amount) VALUES (7, 1, 10);
         INSERT INTO unmatched_payments (op_id, tx_hash, account, reason)
         VALUES (8, '{hex}', '{shop}', 'no_reference');"
    ))
    .await
    .unwrap();
    conn.batch_execute(&up).await.unwrap();

    let kept: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM payment_operations WHERE account = '{shop}' AND op_id = 7"
    ))
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        kept.n, 1,
        "the credited operation gets its session's account"
    );
    // The same operations on another account now fit beside them.
    conn.batch_execute(&format!(
        "INSERT INTO payment_operations (account, op_id, payment_id, amount)
         VALUES ('{other}', 7, 1, 10);
         INSERT INTO unmatched_payments (op_id, tx_hash, account, reason)
         VALUES (8, '{hex}', '{other}', 'no_reference');"
    ))
    .await
    .unwrap();
    let twice = conn
        .batch_execute(&format!(
            "INSERT INTO unmatched_payments (op_id, tx_hash, account, reason)
             VALUES (8, '{hex}', '{other}', 'no_reference')"
        ))
        .await;
    assert!(twice.is_err(), "still once per account");

    // Going back would have to drop one of each: refused.
    assert!(conn.batch_execute(&down).await.is_err());
    conn.batch_execute(&format!(
        "DELETE FROM payment_operations WHERE account = '{other}';
         DELETE FROM unmatched_payments WHERE account = '{other}';"
    ))
    .await
    .unwrap();
    conn.batch_execute(&down).await.unwrap();
}
