//! The real `orbitpay` binary, killed with SIGKILL while a client-reported claim waits on a
//! Horizon that answers 503 for that hash, then restarted: once Horizon answers again, the
//! recovery job settles the session within `jobs.recovery_after` plus one schedule period.
//! (The payment is left out of the stream, so only recovery can settle it.)

use std::time::{Duration, Instant};

use orbitpay_cli::Client;
use orbitpay_core::{Asset, MuxedAccount, toid};
use orbitpay_e2e::daemon::ready;
use orbitpay_horizon_sim::{HorizonSim, Op, SimConfig, Tx, derive_account, units};
use orbitpay_testkit::TestDb;
use orbitpay_testkit::daemon::Daemon;
use serde_json::{Value, json};

async fn session(client: &Client, id: &str) -> Value {
    let r = client.get(&format!("/v1/sessions/{id}")).await.unwrap();
    assert_eq!(r.status, 200);
    r.json().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_left_by_a_killed_daemon_is_recovered_once_horizon_answers() {
    let db = TestDb::new().await;
    let seed = 77;
    let sim = HorizonSim::new(SimConfig {
        seed,
        ..SimConfig::default()
    });
    let (shop, payer) = (derive_account(seed, 0), derive_account(seed, 1));
    sim.register_account(shop);
    sim.register_account(payer);
    let horizon = sim.serve("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("admin.sock");
    let log = dir.path().join("orbitpay.log");
    // recovery_after 4 s, every 2 s: resolved within 6 s of Horizon answering.
    let (recovery_after, period) = (Duration::from_secs(4), Duration::from_secs(2));
    let config = dir.path().join("orbitpay.toml");
    std::fs::write(
        &config,
        format!(
            "[[accounts]]\naddress = \"{shop}\"\nstart_cursor = \"{cursor}\"\n\n\
             [database]\nurl = \"{db}\"\npool_size = 4\n\n\
             [horizon]\nurl = \"{horizon}\"\n\n\
             [admin]\nsocket = \"{socket}\"\nconfirm_wait = \"1s\"\n\n\
             [ingest]\nleader_retry = \"200ms\"\nshutdown_grace = \"5s\"\n\n\
             [jobs]\nrecovery = \"*/2 * * * * *\"\nrecovery_after = \"4s\"\n\n\
             [log]\nformat = \"json\"\nlevel = \"info\"\n",
            cursor = orbitpay::config::now_token(sim.latest_ledger()),
            db = db.url(),
            horizon = horizon.base_url(),
            socket = socket.display(),
        ),
    )
    .unwrap();

    let first = Daemon::spawn(&config, &log, &[]);
    let client = ready(&socket).await;
    // The payment below is left out of streams only: it must land after the follower has caught
    // up (readiness does not wait for that, and leadership may take a moment to start it).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = client.get("/v1/status").await.unwrap().json().unwrap();
        if status["accounts"]["by_state"]["streaming"] == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the account did not start streaming: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = client
        .post_json(
            "/v1/sessions",
            &[("Idempotency-Key", "kill9-session")],
            &json!({ "amount": "5", "asset": "native" }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let created = r.json().unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let reference: u64 = created["reference"].as_str().unwrap().parse().unwrap();

    // The wallet pays; the stream never carries it, and Horizon answers 503 for its hash.
    let op = toid::encode(sim.latest_ledger() + 1, 1, 1);
    sim.skip_in_streams(op);
    let closed = sim.close_ledger(vec![Tx::new(payer).op(Op::payment(
        payer,
        MuxedAccount::new(shop, reference),
        Asset::Native,
        units(5),
    ))]);
    let hash = closed.txs[0].hash.clone();
    sim.fail_transaction_lookups(&hash, 503);
    let r = client
        .post_json(
            &format!("/v1/sessions/{id}/payments"),
            &[("Idempotency-Key", "kill9-report")],
            &json!({ "tx_hash": hash }),
        )
        .await
        .unwrap();
    assert!(
        (200..300).contains(&r.status),
        "{} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(session(&client, &id).await["status"], "processing");

    // A later payment (to no session) moves the stream's cursor past the skipped one, so the
    // restarted daemon's catch-up does not read it either.
    let later = sim.close_ledger(vec![Tx::new(payer).op(Op::payment(
        payer,
        shop,
        Asset::Native,
        units(1),
    ))]);
    let later_op = later.txs[0].op_ids[0];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = client.get("/v1/accounts").await.unwrap().json().unwrap();
        if status["data"][0]["cursor"]
            .as_i64()
            .is_some_and(|c| c >= later_op)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stream did not pass the later payment: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // kill -9 in the middle of the background confirmation.
    first.kill();
    let _ = std::fs::remove_file(&socket);

    let _second = Daemon::spawn(&config, &log, &[]);
    let client = ready(&socket).await;
    // Still unanswered: recovery leaves it processing, run after run.
    tokio::time::sleep(recovery_after + period * 2).await;
    assert_eq!(session(&client, &id).await["status"], "processing");

    sim.heal_transaction_lookups(&hash);
    let healed = Instant::now();
    let bound = recovery_after + period + Duration::from_secs(2);
    loop {
        let s = session(&client, &id).await;
        if s["status"] == "paid" {
            assert_eq!(s["amount_received"], "5.0000000", "{s}");
            break;
        }
        assert!(
            healed.elapsed() < bound,
            "not recovered within {bound:?}: {s}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("recovered a stuck session"), "{text}");
    let status = client.get("/v1/status").await.unwrap().json().unwrap();
    assert!(
        status["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["job"] == "recovery" && j["counts"]["settled"] == 1),
        "{status}"
    );
    horizon.shutdown().await;
}
