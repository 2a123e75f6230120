//! The start-up check that the database is UTF8: on a LATIN1 database a payer's "€" fails to
//! store with 22P05, classed fatal, which would halt every instance on that record.

use diesel_async::SimpleAsyncConnection as _;
use orbitpay_store::{ErrorClass, FatalKind, StoreError};
use orbitpay_testkit::TestDb;

#[tokio::test]
async fn migrations_refuse_a_latin1_database_and_say_how_to_make_a_utf8_one() {
    let db = TestDb::empty_with_encoding("LATIN1").await;

    // What would happen: a memo the encoding cannot hold is a data exception, fatal.
    let mut conn = db.conn().await;
    let euro = conn
        .batch_execute("CREATE TEMP TABLE memo (t text); INSERT INTO memo VALUES ('€')")
        .await
        .unwrap_err();
    let euro = StoreError::from(euro);
    assert_eq!(euro.sqlstate(), Some("22P05"), "{euro}");
    assert_eq!(euro.class(), ErrorClass::Fatal(FatalKind::DataException));

    let refused = orbitpay_store::run_migrations(db.url()).await.unwrap_err();
    assert!(
        matches!(&refused, StoreError::DatabaseEncoding { encoding, .. } if encoding == "LATIN1"),
        "{refused:?}"
    );
    let message = refused.to_string();
    assert!(
        message.contains("ENCODING 'UTF8'") && message.contains("TEMPLATE template0"),
        "{message}"
    );
    // Nothing was migrated.
    assert_eq!(
        db.count("SELECT count(*) FROM pg_class WHERE relname = '__diesel_schema_migrations'")
            .await,
        0
    );
}

#[tokio::test]
async fn migrations_run_on_a_utf8_database() {
    let db = TestDb::empty().await;
    assert!(
        !orbitpay_store::run_migrations(db.url())
            .await
            .unwrap()
            .is_empty()
    );
}
