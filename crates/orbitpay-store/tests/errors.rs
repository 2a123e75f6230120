//! Real failures, provoked against PostgreSQL, land in the retry class the
//! matcher's policy expects; the pool applies the server-side timeouts.

mod common;

use std::time::Duration;

use common::{account, new_session};
use diesel::QueryableByName;
use diesel::result::{DatabaseErrorKind, Error};
use diesel::sql_types::{Integer, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use orbitpay_core::Reference;
use orbitpay_store::{
    ErrorClass, PoolConfig, SessionSettings, StoreError, classify, establish, sessions,
};
use orbitpay_testkit::TestDb;

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

async fn show(conn: &mut AsyncPgConnection, name: &str) -> String {
    diesel::sql_query(format!("SELECT current_setting('{name}') AS value"))
        .get_result::<Setting>(conn)
        .await
        .unwrap()
        .value
}

async fn backend_pid(conn: &mut AsyncPgConnection) -> i32 {
    #[derive(QueryableByName)]
    struct Pid {
        #[diesel(sql_type = Integer)]
        pid: i32,
    }
    diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result::<Pid>(conn)
        .await
        .unwrap()
        .pid
}

async fn terminate(conn: &mut AsyncPgConnection, pid: i32) {
    conn.batch_execute(&format!("SELECT pg_terminate_backend({pid})"))
        .await
        .unwrap();
}

fn with(settings: impl FnOnce(&mut SessionSettings)) -> SessionSettings {
    let mut s = SessionSettings::default();
    settings(&mut s);
    s
}

#[tokio::test]
async fn every_pooled_connection_carries_the_timeouts() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();

    assert_eq!(show(&mut conn, "statement_timeout").await, "30s");
    assert_eq!(show(&mut conn, "lock_timeout").await, "5s");
    assert_eq!(
        show(&mut conn, "idle_in_transaction_session_timeout").await,
        "1min"
    );
}

#[tokio::test]
async fn a_pool_of_one_is_refused() {
    let config = PoolConfig {
        max_size: 1,
        ..PoolConfig::default()
    };
    let result = orbitpay_store::build_pool("postgres://localhost/x", &config);
    assert!(matches!(result, Err(StoreError::PoolConfig(_))));
}

#[tokio::test]
async fn a_unique_violation_is_fatal() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let new = new_session(account(1));
    sessions::insert_with_reference(&mut conn, &new, Reference(5))
        .await
        .unwrap();

    let err = sessions::insert_with_reference(&mut conn, &new, Reference(5))
        .await
        .unwrap_err();

    assert!(matches!(
        err,
        StoreError::Query(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
    ));
    assert_eq!(err.class(), ErrorClass::Fatal);
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_lock_timeout_is_retryable() {
    let db = TestDb::new().await;
    let mut holder = db.conn().await;
    let s = sessions::insert(&mut holder, &new_session(account(1)))
        .await
        .unwrap();
    let mut waiter = establish(
        db.url(),
        &with(|s| s.lock_timeout = Duration::from_millis(200)),
    )
    .await
    .unwrap();
    holder.batch_execute("BEGIN").await.unwrap();
    sessions::lock(&mut holder, s.id).await.unwrap();

    let err = waiter
        .transaction(async |conn| sessions::lock(conn, s.id).await)
        .await
        .unwrap_err();

    assert!(err.to_string().contains("lock timeout"), "{err}");
    assert!(err.is_retryable(), "{err}");
    holder.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn a_statement_timeout_is_retryable() {
    let db = TestDb::new().await;
    let mut conn = establish(
        db.url(),
        &with(|s| s.statement_timeout = Duration::from_millis(100)),
    )
    .await
    .unwrap();

    let err = conn.batch_execute("SELECT pg_sleep(5)").await.unwrap_err();

    assert!(err.to_string().contains("statement timeout"), "{err}");
    assert_eq!(classify(&err), ErrorClass::Retryable);
}

#[tokio::test]
async fn a_deadlock_is_retryable() {
    let db = TestDb::new().await;
    let mut a = db.conn().await;
    let mut b = db.conn().await;
    let s1 = sessions::insert(&mut a, &new_session(account(1)))
        .await
        .unwrap();
    let s2 = sessions::insert(&mut a, &new_session(account(1)))
        .await
        .unwrap();
    a.batch_execute("BEGIN").await.unwrap();
    b.batch_execute("BEGIN").await.unwrap();
    sessions::lock(&mut a, s1.id).await.unwrap();
    sessions::lock(&mut b, s2.id).await.unwrap();

    // Each now waits for the other; PostgreSQL aborts one after deadlock_timeout.
    let (ra, rb) = tokio::join!(sessions::lock(&mut a, s2.id), sessions::lock(&mut b, s1.id));

    let err = match (ra, rb) {
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => e,
        other => panic!("expected exactly one deadlock victim, got {other:?}"),
    };
    assert!(err.to_string().contains("deadlock detected"), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_backend_killed_mid_query_is_retryable() {
    let db = TestDb::new().await;
    let mut victim = db.conn().await;
    let mut killer = db.conn().await;
    let pid = backend_pid(&mut victim).await;

    let (result, ()) = tokio::join!(victim.batch_execute("SELECT pg_sleep(10)"), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        terminate(&mut killer, pid).await;
    });

    let err = result.unwrap_err();
    assert_eq!(classify(&err), ErrorClass::Retryable, "{err:?}");
}

#[tokio::test]
async fn a_backend_killed_while_idle_is_retryable() {
    let db = TestDb::new().await;
    let mut victim = db.conn().await;
    let mut killer = db.conn().await;
    let pid = backend_pid(&mut victim).await;
    terminate(&mut killer, pid).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let err = sessions::find(&mut victim, uuid::Uuid::nil())
        .await
        .unwrap_err();

    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn the_pool_replaces_a_killed_connection() {
    let db = TestDb::new().await;
    let pool = db.pool();
    let mut killer = db.conn().await;
    let pid = {
        let mut conn = pool.get().await.unwrap();
        backend_pid(&mut conn).await
    };
    terminate(&mut killer, pid).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut conn = pool.get().await.unwrap();
    assert_ne!(backend_pid(&mut conn).await, pid);
}

#[tokio::test]
async fn an_unreachable_server_is_retryable() {
    let err = establish(
        "postgres://postgres@127.0.0.1:1/postgres",
        &SessionSettings::default(),
    )
    .await
    .map(|_| ())
    .unwrap_err();
    assert!(StoreError::from(err).is_retryable());
}
