//! PostgreSQL crashes (`pg_ctl stop -m immediate`: no checkpoint, every connection dropped)
//! and comes back, again and again, under the running workload: on a private cluster, never
//! the shared test server. The daemon rides it out (retrying by SQLSTATE class) without a
//! restart; then the checker.

use std::time::Duration;

use orbitpay_e2e::world::{Run, World};
use orbitpay_testkit::Cluster;

async fn blocking(cluster: &Cluster, f: fn(Cluster) -> Result<(), orbitpay_testkit::ClusterError>) {
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || f(c))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invariants_hold_across_postgres_crashes() {
    let run = Run::new(
        "fault_postgres",
        "the_invariants_hold_across_postgres_crashes",
        3,
    );
    let crashes = run.kills;
    let pg_dir = tempfile::tempdir().unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        // The cluster runs as `postgres` when we are root.
        std::fs::set_permissions(pg_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Durable commits, as in production: the test kit's clusters trade them for speed
    // (`synchronous_commit = off` loses the last commits a crash cuts short, acknowledged
    // sessions and webhooks already sent included, which the checker reports).
    let cluster = Cluster::at(pg_dir.path().join("pg"))
        .setting("fsync = on")
        .setting("synchronous_commit = on");
    blocking(&cluster, |c| c.ensure_running().map(drop)).await;

    let world = World::on_database(run, cluster.url()).await;
    world.config("a", &[]);
    let daemon = world.start("a").await;

    let driver = world.drive(world.workload(), &["a"], Duration::from_millis(30));
    for _ in 0..crashes {
        tokio::time::sleep(Duration::from_secs(2)).await;
        blocking(&cluster, |c| c.stop_immediate()).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        blocking(&cluster, |c| c.ensure_running().map(drop)).await;
    }
    let mut workload = driver.stop().await;
    let report = world
        .settle_and_check(&mut workload, Duration::from_secs(90))
        .await;
    world.assert_clean(&report, crashes);
    drop(daemon);
    blocking(&cluster, |c| c.stop()).await;
}
