//! The named crash points (`FAILPOINTS=<point>=return` aborts the daemon there, as kill -9
//! would) under the running workload: the daemon is driven to the point, must die by SIGABRT,
//! is checked dead, restarted (armed again, so a restart's catch-up can die too), and at the
//! end restarted unarmed, settled and checked. `ORBITPAY_FAULT_KILLS` crashes per point.
//!
//! Needs the binary built with the `failpoints` feature (`cargo test --workspace` builds it so,
//! the e2e crate asks for it; alone: `cargo build -p orbitpay --features failpoints`).

use std::time::{Duration, Instant};

use orbitpay_e2e::admin::Admin;
use orbitpay_e2e::daemon::ready;
use orbitpay_e2e::workload::Workload;
use orbitpay_e2e::world::{Run, World};
use orbitpay_testkit::daemon::aborted;

/// What drives the daemon to a point, beside the random workload.
#[derive(Clone, Copy)]
enum Drive {
    /// The workload alone (payments claim sessions, changes send webhooks).
    Workload,
    /// A payment only its client report settles.
    Report,
    /// Two claims whose lookups failed until now: the next recovery run resolves the first.
    Recovery,
}

async fn drive(world: &World, workload: &mut Workload, admin: &Admin, how: Drive) {
    match how {
        Drive::Workload => {}
        Drive::Report => {
            if let Some(s) = workload.open_session(admin).await {
                let hash = workload.pay_unstreamed(&world.sim, s);
                workload.report_hash(admin, s, &hash).await;
            }
        }
        Drive::Recovery => {
            let mut hashes = Vec::new();
            for _ in 0..2 {
                workload.step(&world.sim, admin).await;
                // Its own session each: the last open one may be the claim just made.
                if let Some(s) = workload.new_session(admin).await {
                    let hash = workload.phantom_hash();
                    world.sim.fail_transaction_lookups(&hash, 503);
                    workload.report_hash(admin, s, &hash).await;
                    hashes.push(hash);
                }
            }
            // Older than recovery_after (3 s), then Horizon answers: NotFound, released.
            tokio::time::sleep(Duration::from_secs(4)).await;
            for h in &hashes {
                world.sim.heal_transaction_lookups(h);
            }
        }
    }
}

async fn crash_at(binary: &'static str, test: &'static str, point: &str, how: Drive) {
    let run = Run::new(binary, test, 3);
    let crashes = run.kills;
    let world = World::new(run).await;
    world.config("a", &[]);
    let admin = world.admin(&["a"]);
    let armed = format!("{point}=return");
    let mut workload = world.workload();
    let mut crashed = Vec::new();
    let first = world.start("a").await;
    first.kill();
    for round in 0..crashes {
        let mut daemon = world.spawn("a", &[("FAILPOINTS", armed.as_str())]);
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = daemon.exited() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the daemon never reached {point} (built with --features \
                 failpoints?); replay: {}\nlog tail:\n{}",
                world.run.replay(),
                tail(&world.log("a"), 60)
            );
            workload.step(&world.sim, &admin).await;
            drive(&world, &mut workload, &admin, how).await;
        };
        assert!(
            aborted(status),
            "round {round}: the daemon ended by {status:?}, not at {point}; log: {}",
            world.log("a").display()
        );
        crashed.extend(
            world
                .check(&workload, orbitpay_e2e::checker::Mode::Crashed)
                .await
                .violations,
        );
    }
    let daemon = world.spawn("a", &[]);
    ready(&world.socket("a")).await;
    let mut report = world
        .settle_and_check(&mut workload, Duration::from_secs(90))
        .await;
    report.absorb(crashed);
    world.assert_clean(&report, crashes);
    drop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_claim_commits_before_settle() {
    crash_at(
        "fault_crash_points",
        "a_crash_after_the_claim_commits_before_settle",
        "claim-committed",
        Drive::Workload,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_reported_settle_before_the_response() {
    crash_at(
        "fault_crash_points",
        "a_crash_after_a_reported_settle_before_the_response",
        "settle-before-response",
        Drive::Report,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_webhook_is_sent_before_it_is_recorded() {
    crash_at(
        "fault_crash_points",
        "a_crash_after_the_webhook_is_sent_before_it_is_recorded",
        "webhook-sent",
        Drive::Workload,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_the_middle_of_recovery() {
    crash_at(
        "fault_crash_points",
        "a_crash_in_the_middle_of_recovery",
        "recovery-mid",
        Drive::Recovery,
    )
    .await;
}

/// The last `n` lines of a log, for a failure message (the world's directory goes with it).
fn tail(path: &std::path::Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
