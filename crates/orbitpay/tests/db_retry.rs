//! The store's one retry, as the admin handlers, the jobs and the webhook dispatcher use it: a
//! transient database error met once is ridden out; one that outlasts a request's budget still
//! answers 503 DATABASE_UNAVAILABLE with `Retry-After`.
//!
//! The fault is real: the test holds a lock the call needs, waits until the call's backend is
//! waiting on it, and ends that backend with `pg_terminate_backend` (57P01 admin_shutdown, the
//! error a failover or a restart gives a connection in use). Then it releases the lock, so the
//! retry, on a fresh connection, goes through.

mod admin_support;

use std::future::Future;
use std::time::Duration;

use admin_support::{Harness, assert_error, metrics_handle};
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection as _};
use orbitpay_testkit::TestDb;

/// Holds `LOCK TABLE <table>` in an open transaction on a connection of its own.
async fn lock_table(db: &TestDb, table: &str) -> AsyncPgConnection {
    let mut conn = db.conn().await;
    conn.batch_execute(&format!(
        "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
    ))
    .await
    .unwrap();
    conn
}

/// Runs `call` while `table` is locked, ends the backend that waits for the lock, then lets
/// the lock go; returns what `call` returned.
async fn ended_once_mid_query<T: Send + 'static>(
    db: &TestDb,
    table: &str,
    call: impl Future<Output = T> + Send + 'static,
) -> T {
    let mut lock = lock_table(db, table).await;
    let task = tokio::spawn(call);
    let waiter = "coalesce((SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                  AND wait_event_type = 'Lock' LIMIT 1), 0)";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let pid = loop {
        let pid = db.count(waiter).await;
        if pid != 0 {
            break pid;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the call never waited on the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    db.exec(&format!("SELECT pg_terminate_backend({pid})"))
        .await;
    lock.batch_execute("ROLLBACK").await.unwrap();
    task.await.unwrap()
}

fn retries_counted() -> f64 {
    metrics_handle()
        .render()
        .lines()
        .filter(|l| l.starts_with("orbitpay_db_retries_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_read_whose_connection_is_ended_mid_query_is_answered() {
    let h = Harness::start().await;
    let created = h.create_session("retry-read").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let client = h.client.clone();
    let path = format!("/v1/sessions/{id}");
    let before = retries_counted();
    let response = ended_once_mid_query(&h.db, "sessions", async move {
        client.get(&path).await.unwrap()
    })
    .await;
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(admin_support::body_json(&response)["id"], id.as_str());
    assert!(retries_counted() > before, "the retry is counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_write_whose_connection_is_ended_mid_query_is_done_once() {
    let h = Harness::start().await;
    let created = h.create_session("retry-write").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let client = h.client.clone();
    let path = format!("/v1/sessions/{id}/cancel");
    let response = ended_once_mid_query(&h.db, "sessions", async move {
        client
            .send(orbitpay_cli::client::Method::POST, &path, &[], None)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(admin_support::body_json(&response)["status"], "cancelled");
    assert_eq!(
        h.db.count(&format!(
            "SELECT count(*) FROM outbox_events WHERE session_id = '{id}' AND event_type = 'session.cancelled'"
        ))
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_request_that_meets_the_fault_past_its_budget_answers_503_with_retry_after() {
    let h = Harness::start().await;
    // Every new connection is read-only (25006, as a standby answers after a failover), and
    // every existing one is ended, so each attempt fails the same way.
    h.db.exec(&format!(
        "ALTER DATABASE \"{}\" SET default_transaction_read_only = on",
        h.db.name()
    ))
    .await;
    h.db.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await;
    let before = retries_counted();
    let r = h
        .post(
            "/v1/sessions",
            Some("past-the-budget"),
            r#"{"amount":"1","asset":"native"}"#,
        )
        .await;
    assert_error(&r, 503, "DATABASE_UNAVAILABLE");
    assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
    assert!(
        retries_counted() - before >= 2.0,
        "three attempts, two retries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_run_rides_out_a_connection_ended_mid_query() {
    let db = TestDb::new().await;
    db.exec(
        "INSERT INTO idempotency_keys (key, request_fingerprint, created_at) \
         VALUES ('old', decode(repeat('00', 32), 'hex'), now() - interval '2 days')",
    )
    .await;
    let pool = db.pool();
    let deleted = ended_once_mid_query(&db, "idempotency_keys", async move {
        orbitpay::jobs::prune::prune_idempotency_keys(&pool, Duration::from_secs(3600)).await
    })
    .await
    .expect("the run goes on after the connection is ended");
    assert_eq!(deleted, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dispatcher_rides_out_a_connection_ended_mid_query() {
    use orbitpay_webhooks::{Dispatcher, DispatcherConfig, Secret, Signer};
    let db = TestDb::new().await;
    let signer = Signer {
        current: Secret::parse(&Secret::generate()).unwrap(),
        previous: None,
    };
    let dispatcher = Dispatcher::new(db.pool(), signer, DispatcherConfig::default());
    let attempted = ended_once_mid_query(&db, "webhook_deliveries", async move {
        dispatcher.run_once().await.map_err(|e| e.to_string())
    })
    .await
    .expect("the round goes on after the connection is ended");
    assert_eq!(attempted, 0, "nothing was due");
}
