//! The checker catches what it claims to: a quiet run (no fault) is clean, and each planted
//! violation (an operation row deleted, the cursor nudged past the ledger, a claim left
//! standing, a balance nudged, a webhook the receiver never saw) is reported under its
//! invariant.

use std::time::Duration;

use orbitpay_e2e::checker::{Invariant, Mode};
use orbitpay_e2e::daemon::ready;
use orbitpay_e2e::world::{Run, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_run_is_clean_and_every_planted_violation_is_caught() {
    let world = World::new(Run::new(
        "checker",
        "a_quiet_run_is_clean_and_every_planted_violation_is_caught",
        0,
    ))
    .await;
    world.config("a", &[]);
    let daemon = world.spawn("a", &[]);
    ready(&world.socket("a")).await;
    world.default_endpoint_registered().await;
    let admin = world.admin(&["a"]);
    let mut workload = world.workload();
    for _ in 0..40 {
        workload.step(&world.sim, &admin).await;
    }
    let report = world
        .settle_and_check(&mut workload, Duration::from_secs(60))
        .await;
    world.assert_clean(&report, 0);
    assert!(report.payments > 0 && report.events > 0, "{report:?}");
    drop(daemon); // what follows edits the database under no daemon

    let db = world.sql().await;
    let one = |sql: String, undo: String, invariant: Invariant| {
        let (db, world, workload) = (&db, &world, &workload);
        async move {
            db.exec(&sql).await;
            let report = world.check(workload, Mode::Settled).await;
            db.exec(&undo).await;
            assert!(
                report.has(invariant),
                "{sql}: expected a {invariant:?} violation, got {:#?}",
                report.violations
            );
            assert!(
                world
                    .check(workload, Mode::Settled)
                    .await
                    .violations
                    .is_empty()
            );
        }
    };

    // 1 and 3: an operation row lost.
    let op = db
        .scalar("SELECT op_id FROM payment_operations ORDER BY op_id LIMIT 1")
        .await
        .unwrap();
    let row = db
        .rows(&format!(
            "SELECT payment_id::text, amount::text, account FROM payment_operations WHERE op_id = {op}"
        ))
        .await
        .remove(0);
    let (pid, amount) = (row[0].clone().unwrap(), row[1].clone().unwrap());
    let account = row[2].clone().unwrap();
    one(
        format!("DELETE FROM payment_operations WHERE op_id = {op}"),
        format!(
            "INSERT INTO payment_operations (account, op_id, payment_id, amount)
             VALUES ('{account}', {op}, {pid}, {amount})"
        ),
        Invariant::CreditedOnce,
    )
    .await;
    // 2: a balance that is not the sum of its payments.
    one(
        "ALTER TABLE sessions DISABLE TRIGGER sessions_touch;
         UPDATE sessions SET amount_received = amount_received + 1
          WHERE id = (SELECT session_id FROM payments ORDER BY id LIMIT 1)"
            .into(),
        "UPDATE sessions SET amount_received = amount_received - 1
          WHERE id = (SELECT session_id FROM payments ORDER BY id LIMIT 1);
         ALTER TABLE sessions ENABLE TRIGGER sessions_touch"
            .into(),
        Invariant::Balances,
    )
    .await;
    // 4: the cursor nudged past the ledger.
    one(
        "UPDATE stream_cursors SET paging_token = paging_token + (1::bigint << 40)".into(),
        "UPDATE stream_cursors SET paging_token = paging_token - (1::bigint << 40)".into(),
        Invariant::CursorNotAhead,
    )
    .await;
    // 5: an event the receiver never saw.
    let seen = world.receiver.log.lock().unwrap().remove(0);
    let report = world.check(&workload, Mode::Settled).await;
    assert!(report.has(Invariant::WebhooksDelivered), "{report:?}");
    world.receiver.log.lock().unwrap().insert(0, seen);
    // 6: a claim left standing, on a pending session when the workload left one (a seed can
    // leave none: every session paid, expired or cancelled), else on any; undone exactly.
    one(
        "ALTER TABLE sessions DISABLE TRIGGER sessions_touch;
         CREATE TABLE planted AS SELECT id, status, processing_tx_hash, processing_started_at,
                claim_source FROM sessions ORDER BY status <> 'pending', id LIMIT 1;
         UPDATE sessions SET status = 'processing', processing_tx_hash = repeat('a', 64),
                processing_started_at = now(), claim_source = 'client_report'
          WHERE id = (SELECT id FROM planted)"
            .into(),
        "UPDATE sessions s SET status = p.status, processing_tx_hash = p.processing_tx_hash,
                processing_started_at = p.processing_started_at, claim_source = p.claim_source
           FROM planted p WHERE s.id = p.id;
         DROP TABLE planted;
         ALTER TABLE sessions ENABLE TRIGGER sessions_touch"
            .into(),
        Invariant::NoStuckProcessing,
    )
    .await;
}
