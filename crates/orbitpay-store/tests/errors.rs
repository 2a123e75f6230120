//! Real failures, provoked against PostgreSQL, land in the class the matcher's retry policy
//! expects, read from their SQLSTATE; the pool applies the server-side timeouts.
//! Cases that stop or reconfigure a server are in `private_cluster.rs`.

mod common;

use std::time::Duration;

use common::{account, new_session};
use diesel::QueryableByName;
use diesel::result::{DatabaseErrorKind, Error};
use diesel::sql_types::{Integer, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use orbitpay_core::Reference;
use orbitpay_store::{
    ErrorClass, FatalKind, PoolConfig, SessionSettings, StoreError, TransientKind, classify,
    establish, sessions,
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

/// Asserts the error's SQLSTATE and class, and returns it for more checks.
#[track_caller]
fn assert_class(err: impl Into<StoreError>, sqlstate: Option<&str>, class: ErrorClass) {
    let err = err.into();
    assert_eq!(err.sqlstate(), sqlstate, "{err:?}");
    assert_eq!(err.class(), class, "{err:?}");
    assert_eq!(
        err.is_retryable(),
        matches!(class, ErrorClass::Transient(_))
    );
}

async fn table(conn: &mut AsyncPgConnection) {
    conn.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL CHECK (v >= 0)); \
         INSERT INTO t VALUES (1, 0), (2, 0)",
    )
    .await
    .unwrap();
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
async fn a_unique_violation_is_a_constraint_error() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let new = new_session(account(1));
    sessions::insert_with_reference(&mut conn, &new, Reference(5))
        .await
        .unwrap();

    let err = sessions::insert_with_reference(&mut conn, &new, Reference(5))
        .await
        .unwrap_err();

    // diesel's typed kind and the constraint name survive the tagging.
    assert!(matches!(
        err,
        StoreError::Query(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
    ));
    assert!(err.constraint_name().is_some());
    assert_class(err, Some("23505"), ErrorClass::Fatal(FatalKind::Constraint));
}

#[tokio::test]
async fn a_check_violation_is_a_constraint_error() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    table(&mut conn).await;

    let err = conn
        .batch_execute("UPDATE t SET v = -1 WHERE id = 1")
        .await
        .unwrap_err();

    assert_class(err, Some("23514"), ErrorClass::Fatal(FatalKind::Constraint));
}

#[tokio::test]
async fn a_nul_in_text_is_a_data_exception() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;

    // What a payer's MEMO_TEXT with a 0x00 does to a text column.
    let err = diesel::sql_query("SELECT $1::text AS value")
        .bind::<Text, _>("memo\u{0}tail")
        .get_result::<Setting>(&mut conn)
        .await
        .map(|_| ())
        .unwrap_err();

    assert_class(
        err,
        Some("22021"),
        ErrorClass::Fatal(FatalKind::DataException),
    );
}

#[tokio::test]
async fn a_division_by_zero_is_a_data_exception() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;

    let err = conn.batch_execute("SELECT 1 / 0").await.unwrap_err();

    assert_class(
        err,
        Some("22012"),
        ErrorClass::Fatal(FatalKind::DataException),
    );
}

#[tokio::test]
async fn a_serialization_failure_is_transient() {
    let db = TestDb::new().await;
    let mut a = db.conn().await;
    let mut b = db.conn().await;
    table(&mut a).await;
    a.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT v FROM t WHERE id = 1")
        .await
        .unwrap();
    b.batch_execute("UPDATE t SET v = 1 WHERE id = 1")
        .await
        .unwrap();

    let err = a
        .batch_execute("UPDATE t SET v = 2 WHERE id = 1")
        .await
        .unwrap_err();

    assert_class(
        err,
        Some("40001"),
        ErrorClass::Transient(TransientKind::Serialization),
    );
}

#[tokio::test]
async fn a_deadlock_is_transient() {
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
    assert_class(
        err,
        Some("40P01"),
        ErrorClass::Transient(TransientKind::Deadlock),
    );
}

#[tokio::test]
async fn a_lock_timeout_is_transient() {
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

    assert_class(
        err,
        Some("55P03"),
        ErrorClass::Transient(TransientKind::Timeout),
    );
    holder.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn a_statement_timeout_is_transient() {
    let db = TestDb::new().await;
    let mut conn = establish(
        db.url(),
        &with(|s| s.statement_timeout = Duration::from_millis(100)),
    )
    .await
    .unwrap();

    let err = conn.batch_execute("SELECT pg_sleep(5)").await.unwrap_err();

    assert_eq!(
        classify(&err),
        ErrorClass::Transient(TransientKind::Canceled)
    );
    assert_class(
        err,
        Some("57014"),
        ErrorClass::Transient(TransientKind::Canceled),
    );
}

#[tokio::test]
async fn an_operator_cancel_is_transient() {
    let db = TestDb::new().await;
    let mut victim = db.conn().await;
    let mut operator = db.conn().await;
    let pid = backend_pid(&mut victim).await;

    let (result, ()) = tokio::join!(victim.batch_execute("SELECT pg_sleep(10)"), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        operator
            .batch_execute(&format!("SELECT pg_cancel_backend({pid})"))
            .await
            .unwrap();
    });

    assert_class(
        result.unwrap_err(),
        Some("57014"),
        ErrorClass::Transient(TransientKind::Canceled),
    );
    // The connection itself is fine.
    victim.batch_execute("SELECT 1").await.unwrap();
}

#[tokio::test]
async fn a_read_only_server_is_a_failover() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    // What a demoted primary (or a standby) says to a write.
    conn.batch_execute("SET default_transaction_read_only = on")
        .await
        .unwrap();

    let err = sessions::insert(&mut conn, &new_session(account(1)))
        .await
        .unwrap_err();

    assert_class(
        err,
        Some("25006"),
        ErrorClass::Transient(TransientKind::Failover),
    );
}

#[tokio::test]
async fn a_read_only_transaction_is_a_failover() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;

    let err = conn
        .build_transaction()
        .read_only()
        .run(async |conn| sessions::insert(conn, &new_session(account(1))).await)
        .await
        .unwrap_err();

    assert_class(
        err,
        Some("25006"),
        ErrorClass::Transient(TransientKind::Failover),
    );
}

#[tokio::test]
async fn a_backend_killed_mid_query_is_an_admin_shutdown() {
    let db = TestDb::new().await;
    let mut victim = db.conn().await;
    let mut killer = db.conn().await;
    let pid = backend_pid(&mut victim).await;

    let (result, ()) = tokio::join!(victim.batch_execute("SELECT pg_sleep(10)"), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        terminate(&mut killer, pid).await;
    });

    assert_class(
        result.unwrap_err(),
        Some("57P01"),
        ErrorClass::Transient(TransientKind::Failover),
    );
}

#[tokio::test]
async fn a_backend_killed_while_idle_is_a_lost_connection() {
    let db = TestDb::new().await;
    let mut victim = db.conn().await;
    let mut killer = db.conn().await;
    let pid = backend_pid(&mut victim).await;
    terminate(&mut killer, pid).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let err = sessions::find(&mut victim, uuid::Uuid::nil())
        .await
        .unwrap_err();

    // The server's goodbye reached no query: only the closed socket is left.
    assert_class(err, None, ErrorClass::Transient(TransientKind::Connection));
}

#[tokio::test]
async fn an_idle_in_transaction_timeout_is_transient() {
    let db = TestDb::new().await;
    let mut conn = establish(
        db.url(),
        &with(|s| s.idle_in_transaction_session_timeout = Duration::from_millis(100)),
    )
    .await
    .unwrap();

    let err = conn
        .transaction(async |conn| {
            tokio::time::sleep(Duration::from_millis(500)).await;
            sessions::find(conn, uuid::Uuid::nil()).await
        })
        .await
        .unwrap_err();

    // The server says 25P03 and hangs up; whether the code or only the hang-up reaches the
    // client depends on timing, and both are retried.
    assert!(err.is_retryable(), "{err:?}");
    assert!(matches!(err.sqlstate(), None | Some("25P03")), "{err:?}");
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
async fn an_unreachable_server_is_a_lost_connection() {
    let err = establish(
        "postgres://postgres@127.0.0.1:1/postgres",
        &SessionSettings::default(),
    )
    .await
    .map(|_| ())
    .unwrap_err();
    assert_class(err, None, ErrorClass::Transient(TransientKind::Connection));
}

#[tokio::test]
async fn an_exhausted_pool_is_transient() {
    let db = TestDb::new().await;
    let pool = orbitpay_store::build_pool(
        db.url(),
        &PoolConfig {
            max_size: 2,
            wait_timeout: Duration::from_millis(100),
            ..PoolConfig::default()
        },
    )
    .unwrap();
    let _a = pool.get().await.unwrap();
    let _b = pool.get().await.unwrap();

    let err = pool.get().await.map(|_| ()).unwrap_err();

    assert_class(err, None, ErrorClass::Transient(TransientKind::Pool));
}
