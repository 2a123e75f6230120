//! The periodic jobs: each is a plain function (tested with the database's clock), and the
//! scheduler really fires them.

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use orbitpay::config::Config;
use orbitpay::jobs::JobDeps;
use orbitpay_testkit::TestDb;
use tokio_util::sync::CancellationToken;

async fn keys(db: &TestDb) -> Vec<String> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use orbitpay_store::schema::idempotency_keys::dsl::*;
    let mut conn = db.conn().await;
    idempotency_keys
        .select(key)
        .order(key)
        .load(&mut conn)
        .await
        .unwrap()
}

async fn seed_keys(db: &TestDb) {
    let mut conn = db.conn().await;
    conn.batch_execute(
        "INSERT INTO idempotency_keys (key, request_fingerprint, created_at) VALUES
           ('old', decode(repeat('00', 32), 'hex'), now() - interval '25 hours'),
           ('fresh', decode(repeat('00', 32), 'hex'), now() - interval '23 hours')",
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn pruning_deletes_only_keys_older_than_the_ttl_by_the_database_clock() {
    let db = TestDb::new().await;
    seed_keys(&db).await;
    let deleted =
        orbitpay::jobs::prune_idempotency_keys(&db.pool(), Duration::from_secs(24 * 3600))
            .await
            .unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(keys(&db).await, vec!["fresh".to_owned()]);
}

async fn event_types(db: &TestDb) -> Vec<String> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use orbitpay_store::schema::outbox_events::dsl::*;
    let mut conn = db.conn().await;
    outbox_events
        .select(event_type)
        .order(event_type)
        .load(&mut conn)
        .await
        .unwrap()
}

/// Old events: delivered (with an attempt), with no delivery owed at all, pending, delivering,
/// dead, and delivered to one endpoint but pending to another; plus a fresh delivered one.
async fn seed_events(db: &TestDb) {
    let mut conn = db.conn().await;
    conn.batch_execute(
        "INSERT INTO outbox_events (event_id, event_type, payload, created_at) VALUES
           ('00000000-0000-7000-8000-000000000001', 'old.delivered', '{}', now() - interval '31 days'),
           ('00000000-0000-7000-8000-000000000002', 'old.no_delivery', '{}', now() - interval '31 days'),
           ('00000000-0000-7000-8000-000000000003', 'old.pending', '{}', now() - interval '31 days'),
           ('00000000-0000-7000-8000-000000000004', 'old.delivering', '{}', now() - interval '31 days'),
           ('00000000-0000-7000-8000-000000000005', 'old.dead', '{}', now() - interval '31 days'),
           ('00000000-0000-7000-8000-000000000006', 'old.half_delivered', '{}', now() - interval '31 days'),
           ('00000000-0000-7000-8000-000000000007', 'fresh.delivered', '{}', now() - interval '29 days');
         INSERT INTO webhook_deliveries (event_id, url, state, delivered_at, lease_owner, lease_until) VALUES
           ('00000000-0000-7000-8000-000000000001', 'https://a.example/hook', 'delivered', now() - interval '31 days', NULL, NULL),
           ('00000000-0000-7000-8000-000000000003', 'https://a.example/hook', 'pending', NULL, NULL, NULL),
           ('00000000-0000-7000-8000-000000000004', 'https://a.example/hook', 'delivering', NULL, 'x', now()),
           ('00000000-0000-7000-8000-000000000005', 'https://a.example/hook', 'dead', NULL, NULL, NULL),
           ('00000000-0000-7000-8000-000000000006', 'https://a.example/hook', 'delivered', now(), NULL, NULL),
           ('00000000-0000-7000-8000-000000000006', 'https://b.example/hook', 'pending', NULL, NULL, NULL),
           ('00000000-0000-7000-8000-000000000007', 'https://a.example/hook', 'delivered', now(), NULL, NULL);
         INSERT INTO webhook_attempts (delivery_id, attempt, lease_owner, started_at, latency_ms, status)
           SELECT id, 1, 'x', now(), 5, 200 FROM webhook_deliveries;",
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn pruning_deletes_old_delivered_events_and_keeps_every_undelivered_one() {
    let db = TestDb::new().await;
    seed_events(&db).await;
    let pruned = orbitpay::jobs::prune::prune_delivered_events(
        &db.pool(),
        Duration::from_secs(30 * 24 * 3600),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        (pruned.events, pruned.deliveries, pruned.attempts),
        (2, 1, 1)
    );
    assert_eq!(
        event_types(&db).await,
        [
            "fresh.delivered",
            "old.dead",
            "old.delivering",
            "old.half_delivered",
            "old.pending"
        ]
    );
    // The half-delivered event keeps both its deliveries and their attempts.
    let mut conn = db.conn().await;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    use diesel_async::RunQueryDsl;
    let n: N = diesel::sql_query(
        "SELECT count(*) AS n FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
         WHERE d.event_id = '00000000-0000-7000-8000-000000000006'",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(n.n, 2);
    // Idempotent.
    let again = orbitpay::jobs::prune::prune_delivered_events(
        &db.pool(),
        Duration::from_secs(30 * 24 * 3600),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(again.events, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_fires_the_prune_job_on_its_cron_schedule_and_records_the_run() {
    let db = TestDb::new().await;
    seed_keys(&db).await;
    let mut config = Config::default();
    config.jobs.prune = "* * * * * *".into();
    let deps = JobDeps::database_only(db.pool());
    let board = deps.board.clone();
    let jobs = orbitpay::jobs::start(&config, deps).await.unwrap();
    let mut pruned = false;
    for _ in 0..60 {
        if keys(&db).await == ["fresh"] && !board.last_runs().is_empty() {
            pruned = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    jobs.stop().await;
    assert!(pruned, "the job ran within a few seconds");
    let runs = board.last_runs();
    let run = runs.iter().find(|r| r.job == "prune").unwrap();
    assert_eq!(run.outcome, orbitpay::jobs::runs::Outcome::Ok);
    assert!(run.counts.contains_key("deleted_events"));
}
