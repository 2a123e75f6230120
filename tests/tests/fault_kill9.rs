//! kill -9 of the real daemon at random moments while the mixed workload runs (sessions,
//! reports, payments of every kind), restarting it each time, sometimes killing it again
//! before it is ready. After every kill the invariants that hold at every instant are
//! checked against what the dead daemon left; at the end, once recovery has run and the
//! webhooks are out, all of them.
//!
//! CI runs `ORBITPAY_FAULT_KILLS` = 50; the storm (docs/reliability.md) runs 500.

use std::time::Duration;

use orbitpay_e2e::daemon::ready;
use orbitpay_e2e::world::{Run, World};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invariants_hold_across_kill_9_at_random_moments() {
    let run = Run::new(
        "fault_kill9",
        "the_invariants_hold_across_kill_9_at_random_moments",
        50,
    );
    let kills = run.kills;
    let world = World::new(run).await;
    world.config("a", &[]);
    let mut daemon = world.start("a").await;

    let mut workload = world.workload();
    let snapshot = workload.publish();
    let driver = world.drive(workload, &["a"], Duration::from_millis(20));

    let mut rng = StdRng::seed_from_u64(world.run.seed ^ 0x6b69_6c6c);
    let mut crashed = Vec::new();
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..800))).await;
        daemon.kill();
        let record = snapshot.borrow().clone();
        crashed.extend(world.check_crashed(&record).await.violations);
        daemon = world.spawn("a", &[]);
        // Now and then killed again while it starts (migrations, leadership, catch-up).
        if rng.random_bool(0.75) {
            ready(&world.socket("a")).await;
        }
    }
    let mut workload = driver.stop().await;
    ready(&world.socket("a")).await;

    let mut report = world
        .settle_and_check(&mut workload, Duration::from_secs(60))
        .await;
    report.absorb(crashed);
    eprintln!(
        "{} workload steps, {} reports",
        workload.record.steps, workload.record.reports
    );
    world.assert_clean(&report, kills);
    drop(daemon);
}
