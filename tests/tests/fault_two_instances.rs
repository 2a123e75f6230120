//! Two instances on one database: `a` is killed (-9) again and again, `b` is frozen with
//! SIGSTOP for a while and thawed, each restart racing the other for the account's lead,
//! while the workload talks to whichever answers. Then the checker.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orbitpay_e2e::daemon::ready;
use orbitpay_e2e::world::{Run, World};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invariants_hold_with_one_instance_killed_and_the_other_frozen() {
    let run = Run::new(
        "fault_two_instances",
        "the_invariants_hold_with_one_instance_killed_and_the_other_frozen",
        20,
    );
    let kills = run.kills;
    let world = World::new(run).await;
    world.config("a", &[]);
    world.config("b", &[]);
    let mut a = world.start("a").await;
    let b = world.spawn("b", &[]);
    ready(&world.socket("b")).await;

    let mut workload = world.workload();
    let snapshot = workload.publish();
    let driver = world.drive(workload, &["a", "b"], Duration::from_millis(20));
    let mut rng = StdRng::seed_from_u64(world.run.seed ^ 0x7374_6f70);
    let b_pid = Pid::from_raw(b.id() as i32);
    let mut crashed = Vec::new();
    for i in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..900))).await;
        // b freezes for a few kills of a at a time.
        if i % 6 == 1 {
            kill(b_pid, Signal::SIGSTOP).unwrap();
        }
        if i % 6 == 4 {
            kill(b_pid, Signal::SIGCONT).unwrap();
        }
        a.kill();
        let record = snapshot.borrow().clone();
        crashed.extend(world.check_crashed(&record).await.violations);
        a = world.spawn("a", &[]);
    }
    kill(b_pid, Signal::SIGCONT).unwrap();
    let mut workload = driver.stop().await;
    ready(&world.socket("a")).await;
    let mut report = world
        .settle_and_check(&mut workload, Duration::from_secs(90))
        .await;
    report.absorb(crashed);
    world.assert_clean(&report, kills);
    drop((a, b));
}
