//! A refund completed by the ledger across a kill -9: the real `orbitpay` binary records an
//! unmatched payment, a refund of it awaits signature, the daemon is killed with SIGKILL, and
//! the merchant's signed payment back lands while it is down. The restarted daemon's catch-up
//! completes the refund with the ledger's close time and one `refund.completed`; a third
//! daemon made to re-read the same ledgers (its cursor set back) completes nothing again.

use std::path::Path;
use std::time::{Duration, Instant};

use orbitpay_core::{Asset, Memo};
use orbitpay_e2e::daemon::ready;
use orbitpay_horizon_sim::{HorizonSim, Op, SimConfig, Tx, derive_account, units};
use orbitpay_testkit::TestDb;
use orbitpay_testkit::daemon::Daemon;

async fn wait_for(db: &TestDb, sql: &str, want: i64, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.count(sql).await != want {
        assert!(
            Instant::now() < deadline,
            "{what}: not seen in 30 s\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn hash_bytes(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_signed_while_the_daemon_was_killed_is_completed_once_by_the_stream() {
    let db = TestDb::new().await;
    let seed = 78;
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
    let config = dir.path().join("orbitpay.toml");
    std::fs::write(
        &config,
        format!(
            "[[accounts]]\naddress = \"{shop}\"\nstart_cursor = \"{cursor}\"\n\n\
             [database]\nurl = \"{db}\"\npool_size = 4\n\n\
             [horizon]\nurl = \"{horizon}\"\n\n\
             [admin]\nsocket = \"{socket}\"\n\n\
             [ingest]\nleader_retry = \"200ms\"\nshutdown_grace = \"5s\"\n\n\
             [log]\nformat = \"json\"\nlevel = \"info\"\n",
            cursor = orbitpay::config::now_token(sim.latest_ledger()),
            db = db.url(),
            horizon = horizon.base_url(),
            socket = socket.display(),
        ),
    )
    .unwrap();

    let first = Daemon::spawn(&config, &log, &[]);
    let _client = ready(&socket).await;
    // A payment naming no session: unmatched, the money a refund sends back.
    let paid = sim.close_ledger(vec![Tx::new(payer).op(Op::payment(
        payer,
        shop,
        Asset::Native,
        units(5),
    ))]);
    let paid_hash = paid.txs[0].hash.clone();
    wait_for(
        &db,
        "SELECT count(*) FROM unmatched_payments",
        1,
        "the unmatched payment",
        &log,
    )
    .await;
    // The refund as the admin API prepares it: to the payer, MEMO_RETURN of the payment.
    db.exec(&format!(
        "INSERT INTO refunds (id, unmatched_id, account, amount, asset, destination, memo_type,
                              memo_value, memo_bytes, method, envelope_xdr, sequence, valid_until)
         SELECT gen_random_uuid(), id, '{shop}', 50000000, 'native', '{payer}', 'return',
                '{paid_hash}', decode('{paid_hash}', 'hex'), 'payment', 'AAAA', 1,
                now() + interval '1 hour'
           FROM unmatched_payments"
    ))
    .await;
    let cursor_before = db.count("SELECT paging_token FROM stream_cursors").await;

    // The merchant signs; the daemon dies before the ledger has the transaction.
    first.kill();
    let _ = std::fs::remove_file(&socket);
    let back = sim.close_ledger(vec![
        Tx::new(shop)
            .memo(Memo::Return(hash_bytes(&paid_hash)))
            .op(Op::payment(shop, payer, Asset::Native, units(5))),
    ]);
    let (back_hash, back_op) = (back.txs[0].hash.clone(), back.txs[0].op_ids[0]);

    let second = Daemon::spawn(&config, &log, &[]);
    let _client = ready(&socket).await;
    let completed = format!(
        "SELECT count(*) FROM refunds WHERE status = 'completed' AND tx_hash = '{back_hash}'
           AND closed_at = '{}'::timestamptz",
        back.closed_at
    );
    wait_for(&db, &completed, 1, "the refund completed", &log).await;
    let events = "SELECT count(*) FROM outbox_events WHERE event_type = 'refund.completed'";
    assert_eq!(db.count(events).await, 1);

    // Made to read the same ledgers again after another kill: nothing is completed twice.
    second.kill();
    let _ = std::fs::remove_file(&socket);
    db.exec(&format!(
        "UPDATE stream_cursors SET paging_token = {cursor_before}"
    ))
    .await;
    let _third = Daemon::spawn(&config, &log, &[]);
    let _client = ready(&socket).await;
    wait_for(
        &db,
        &format!("SELECT count(*) FROM stream_cursors WHERE paging_token >= {back_op}"),
        1,
        "the re-read passing the refund's payment",
        &log,
    )
    .await;
    assert_eq!(db.count(events).await, 1);
    assert_eq!(db.count(&completed).await, 1);
    assert_eq!(
        db.count("SELECT count(*) FROM outgoing_payments").await,
        1,
        "one row for the one operation"
    );
    horizon.shutdown().await;
}
