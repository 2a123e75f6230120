//! Horizon misbehaving under the running workload, fault after fault from the simulator, with
//! every stream ending in byebye after 3 events: a stalled stream, 503 bursts (streams, pages
//! and transaction lookups), 429 with Retry-After, a malformed data line, an error event, a
//! stream cut mid-event, redirects to another origin. Then a
//! retention gap opened while the daemon was down: flagged in status, not hidden. Each test
//! heals, settles and runs the checker.

use std::time::Duration;

use orbitpay_e2e::daemon::ready;
use orbitpay_e2e::world::{Run, World};
use orbitpay_horizon_sim::{Fault, RouteKind};

fn faults() -> Vec<(&'static str, RouteKind, Fault, usize)> {
    use RouteKind::*;
    vec![
        ("stall", AccountPaymentsStream, Fault::Stall, 1),
        (
            "503 burst on the stream",
            AccountPaymentsStream,
            Fault::Status5xx(503),
            4,
        ),
        (
            "503 burst on pages",
            AccountPayments,
            Fault::Status5xx(503),
            3,
        ),
        ("503 on lookups", Transaction, Fault::Status5xx(503), 3),
        (
            "429 with Retry-After",
            AccountPaymentsStream,
            Fault::RateLimited {
                retry_after_secs: 1,
            },
            1,
        ),
        (
            "malformed data line",
            AccountPaymentsStream,
            Fault::MalformedDataLine,
            1,
        ),
        (
            "error event",
            AccountPaymentsStream,
            Fault::ErrorEvent("problem: timeout".into()),
            1,
        ),
        (
            "cut mid-event",
            AccountPaymentsStream,
            Fault::DropMidEvent,
            1,
        ),
        (
            "redirect to another origin",
            AccountPaymentsStream,
            Fault::Redirect("http://127.0.0.1:9/elsewhere".into()),
            2,
        ),
        (
            "redirect of a lookup",
            Transaction,
            Fault::Redirect("http://127.0.0.1:9/elsewhere".into()),
            1,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invariants_hold_while_horizon_stalls_fails_throttles_and_garbles() {
    let run = Run::new(
        "fault_horizon",
        "the_invariants_hold_while_horizon_stalls_fails_throttles_and_garbles",
        2,
    );
    let rounds = run.kills;
    let world = World::new(run).await;
    world.config("a", &[]);
    // Every stream ends with byebye after 3 events, throughout.
    world.sim.set_stream_event_limit(Some(3));
    let daemon = world.start("a").await;

    let driver = world.drive(world.workload(), &["a"], Duration::from_millis(30));
    let mut injected = 0;
    for _ in 0..rounds {
        for (what, route, fault, times) in faults() {
            eprintln!("injecting: {what}");
            world.sim.inject_times(route, fault, times);
            injected += 1;
            // Long enough for a stall to be noticed (stall_timeout 3 s) and backoff to pass.
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
    }
    let mut workload = driver.stop().await;
    world.sim.clear_faults();
    world.sim.set_stream_event_limit(None);
    let report = world
        .settle_and_check(&mut workload, Duration::from_secs(90))
        .await;
    world.assert_clean(&report, injected);
    drop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retention_gap_is_flagged_in_status_and_the_rest_still_holds() {
    let world = World::new(Run::new(
        "fault_horizon",
        "a_retention_gap_is_flagged_in_status_and_the_rest_still_holds",
        1,
    ))
    .await;
    world.config("a", &[]);
    let admin = world.admin(&["a"]);
    let mut workload = world.workload();
    let daemon = world.start("a").await;
    for _ in 0..15 {
        workload.step(&world.sim, &admin).await;
    }
    daemon.kill();
    // While it is down, payments land and Horizon's history moves past them.
    for _ in 0..10 {
        workload.step(&world.sim, &admin).await;
    }
    let elder = world.sim.latest_ledger() + 1;
    world.sim.close_empty_ledgers(2);
    world.sim.set_history_elder_ledger(elder);
    workload.forget_before(elder);
    let daemon = world.spawn("a", &[]);
    let client = ready(&world.socket("a")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = client.get("/v1/status").await.unwrap().json().unwrap();
        if status["accounts"]["not_following"][0]["gap"] == true {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the retention gap is not flagged: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..10 {
        workload.step(&world.sim, &admin).await;
    }
    let report = world
        .settle_and_check(&mut workload, Duration::from_secs(60))
        .await;
    world.assert_clean(&report, 1);
    drop(daemon);
}
