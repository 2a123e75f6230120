//! The periodic jobs: each is a plain function (tested with the database's clock), and the
//! scheduler really fires it.

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use orbitpay::config::Config;
use orbitpay_testkit::TestDb;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_fires_the_prune_job_on_its_cron_schedule() {
    let db = TestDb::new().await;
    seed_keys(&db).await;
    let mut config = Config::default();
    config.jobs.prune_idempotency_keys = "* * * * * *".into();
    let jobs = orbitpay::jobs::start(&config, db.pool()).await.unwrap();
    let mut pruned = false;
    for _ in 0..60 {
        if keys(&db).await == ["fresh"] {
            pruned = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    jobs.stop().await;
    assert!(pruned, "the job ran within a few seconds");
}
