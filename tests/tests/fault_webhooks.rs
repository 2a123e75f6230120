//! The webhook receiver goes down under the running workload: it answers 500 for a while,
//! then hangs past the daemon's request timeout, then recovers, several times over. Every
//! event must still arrive, with the same webhook-id and bytes on every retry and each
//! session's versions in order.

use std::time::Duration;

use orbitpay_e2e::world::{Hook, Run, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_after_receiver_outages() {
    let run = Run::new(
        "fault_webhooks",
        "every_event_arrives_after_receiver_outages",
        2,
    );
    let outages = run.kills;
    let world = World::new(run).await;
    world.config("a", &[]);
    let daemon = world.start("a").await;

    let driver = world.drive(world.workload(), &["a"], Duration::from_millis(30));
    for _ in 0..outages {
        world.hook(Hook::Fail);
        tokio::time::sleep(Duration::from_secs(2)).await;
        world.hook(Hook::Hang);
        tokio::time::sleep(Duration::from_secs(3)).await;
        world.hook(Hook::Ok);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let mut workload = driver.stop().await;
    // Retries back off from 5 s (full jitter, doubling): a few attempts may be due later.
    let report = world
        .settle_and_check(&mut workload, Duration::from_secs(120))
        .await;
    world.assert_clean(&report, outages);
    assert!(
        world.receiver.received().len() > report.webhooks_received,
        "the outages made the daemon retry"
    );
    drop(daemon);
}
