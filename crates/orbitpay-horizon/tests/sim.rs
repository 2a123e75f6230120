//! End-to-end against the Horizon simulator (real HTTP on loopback): exactly-once in-order
//! delivery across forced stream closes, stall recovery, retention gaps, catch-up to stream
//! hand-over, network resets, and a mix of injected faults.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use orbitpay_core::{AccountId, Asset, toid};
use orbitpay_horizon::{
    Follower, FollowerExit, FollowerState, FollowerStatus, HaltReason, HorizonConfig,
    HorizonSource, LedgerSource, Phase,
};
use orbitpay_horizon_sim::{
    Fault, HorizonSim, Op, RouteKind, ServerHandle, SimConfig, Tx, derive_account, stroops,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const START: u32 = 1000;

struct Env {
    sim: HorizonSim,
    server: ServerHandle,
    shop: AccountId,
    payer: AccountId,
}

async fn env(seed: u64) -> Env {
    let sim = HorizonSim::new(SimConfig {
        seed,
        start_ledger: START,
        // Idle streams end routinely well inside the tests' stall bound, as Horizon's 55 s
        // does inside the production 120 s.
        stream_timeout: Duration::from_millis(800),
        ..SimConfig::default()
    });
    let shop = derive_account(seed, 0);
    let payer = derive_account(seed, 1);
    sim.register_account(shop);
    let server = sim.serve("127.0.0.1:0").await.unwrap();
    Env {
        sim,
        server,
        shop,
        payer,
    }
}

impl Env {
    fn config(&self) -> HorizonConfig {
        let mut c = fast_config(self.server.base_url());
        c.follow.stall_timeout = Duration::from_secs(3);
        c
    }

    /// Closes `ledgers` ledgers of `txs` transactions of `ops` payments payer → shop; returns
    /// the new op ids in order.
    fn pay(&self, ledgers: usize, txs: usize, ops: usize) -> Vec<i64> {
        let mut ids = Vec::new();
        for _ in 0..ledgers {
            let batch: Vec<Tx> = (0..txs)
                .map(|_| {
                    Tx::new(self.payer).ops((0..ops).map(|j| {
                        Op::payment(self.payer, self.shop, Asset::Native, stroops(1 + j as i64))
                    }))
                })
                .collect();
            let closed = self.sim.close_ledger(batch.clone());
            for (ct, tx) in closed.txs.iter().zip(&batch) {
                ids.extend(ct.payment_op_ids(tx));
            }
        }
        ids
    }
}

struct Running {
    sink: TestSink,
    status: Arc<FollowerStatus>,
    cancel: CancellationToken,
    task: JoinHandle<FollowerExit>,
}

fn start(cfg: HorizonConfig, account: AccountId, stored: Option<i64>) -> Running {
    start_with(cfg, account, stored, TestSink::default())
}

fn start_with(
    cfg: HorizonConfig,
    account: AccountId,
    stored: Option<i64>,
    sink: TestSink,
) -> Running {
    let follow = cfg.follow.clone();
    let source: Arc<dyn LedgerSource> = Arc::new(HorizonSource::new(cfg).unwrap());
    let f = Follower::new(account, source, sink.clone(), follow, stored);
    let status = f.status();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(f.run(cancel.clone()));
    Running {
        sink,
        status,
        cancel,
        task,
    }
}

impl Running {
    async fn stop(self) {
        self.cancel.cancel();
        let exit = tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(exit, FollowerExit::Cancelled);
    }

    async fn streaming(&self) {
        wait_until(Duration::from_secs(10), "streaming", || {
            self.status.state() == FollowerState::Streaming
        })
        .await;
    }
}

fn assert_strictly_increasing(ids: &[i64]) {
    for w in ids.windows(2) {
        assert!(
            w[0] < w[1],
            "out of order or repeated: {} then {}",
            w[0],
            w[1]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_payments_across_a_thousand_forced_closes_arrive_once_in_order() {
    let e = env(1).await;
    let mut cfg = e.config();
    cfg.stream_limit = 10;
    let run = start(cfg, e.shop, None);
    run.streaming().await;
    let init = run.sink.log().init.expect("starting point persisted");
    assert_eq!(toid::ledger(init), START - 1);

    let expected = e.pay(100, 10, 10);
    assert_eq!(expected.len(), 10_000);
    wait_until(Duration::from_secs(45), "10,000 records", || {
        run.sink.op_ids().len() >= 10_000
    })
    .await;
    let got = run.sink.op_ids();
    assert_eq!(got, expected);
    assert!(
        run.sink.log().batches.iter().all(
            |b| b.phase == Phase::Live && Some(b.up_to) == b.tokens().last().copied().flatten()
        )
    );

    // Every connection resumed from the last confirmed token: never `now`, never missing.
    let resumes: Vec<i64> = e
        .sim
        .stream_last_event_ids()
        .into_iter()
        .map(|id| {
            id.expect("Last-Event-ID on every stream request")
                .parse()
                .unwrap()
        })
        .collect();
    assert!(resumes.len() >= 1000, "{} connections", resumes.len());
    assert_eq!(resumes[0], init);
    let mut known: std::collections::HashSet<i64> = expected.iter().copied().collect();
    known.insert(init);
    for r in &resumes {
        assert!(known.contains(r), "resumed from an unconfirmed token {r}");
    }
    for w in resumes.windows(2) {
        assert!(w[0] <= w[1]);
    }
    let snap = run.status.snapshot();
    assert_eq!(snap.records, 10_000);
    assert!(snap.routine_closes >= 1000, "{snap:?}");
    assert_eq!((snap.errors, snap.stalls, snap.malformed), (0, 0, 0));
    assert_eq!(snap.cursor, Some(*expected.last().unwrap()));
    run.stop().await;
    e.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_that_arrive_while_a_batch_settles_are_taken_together_in_the_next() {
    let e = env(12).await;
    let sink = TestSink::default();
    sink.log().settle_time = Duration::from_millis(300);
    let run = start_with(e.config(), e.shop, None, sink);
    run.streaming().await;

    // One payment per ledger, so each is its own event and its own chunk on the wire.
    let mut expected = Vec::new();
    for _ in 0..30 {
        expected.extend(e.pay(1, 1, 1));
    }
    wait_until(Duration::from_secs(20), "30 records", || {
        run.sink.op_ids().len() >= 30
    })
    .await;
    assert_eq!(run.sink.op_ids(), expected);
    // The first batch settles while the rest arrive; the stream is read meanwhile, so they come
    // in a batch or two, not one per settlement.
    let sizes: Vec<usize> = run
        .sink
        .log()
        .batches
        .iter()
        .map(|b| b.records.len())
        .collect();
    assert!(sizes.len() <= 4, "batch sizes {sizes:?}");
    run.stop().await;
    e.server.shutdown().await;
}

#[tokio::test]
async fn a_stall_is_detected_and_recovered_within_the_bound() {
    let e = env(2).await;
    e.sim
        .inject_for(RouteKind::AccountPaymentsStream, Fault::Stall);
    let mut cfg = e.config();
    let bound = Duration::from_millis(400);
    cfg.follow.stall_timeout = bound;
    let run = start(cfg, e.shop, None);
    // Wait for the stalled connection to be open, then pay.
    wait_until(Duration::from_secs(5), "stalled stream open", || {
        e.sim.request_count(RouteKind::AccountPaymentsStream) == 1
    })
    .await;
    let paid_at = Instant::now();
    let expected = e.pay(1, 1, 1);
    wait_until(Duration::from_secs(5), "payment after stall", || {
        run.sink.op_ids() == expected
    })
    .await;
    let took = paid_at.elapsed();
    assert!(
        took < bound + Duration::from_millis(1500),
        "recovered in {took:?}"
    );
    assert_eq!(run.status.snapshot().stalls, 1);
    run.stop().await;
    e.server.shutdown().await;
}

#[tokio::test]
async fn a_retention_gap_is_flagged_and_ingestion_continues() {
    let e = env(3).await;
    let old = e.pay(3, 1, 2);
    let kept = e.pay(2, 1, 2);
    e.sim.set_history_elder_ledger(START + 3);
    assert_eq!(e.sim.history_elder_ledger(), START + 3);
    let stored = toid::encode(START - 1, 0xF_FFFF, 0xFFF);
    let run = start(e.config(), e.shop, Some(stored));
    wait_until(Duration::from_secs(10), "kept records", || {
        run.sink.op_ids() == kept
    })
    .await;
    let snap = run.status.snapshot();
    assert!(snap.gap);
    assert_eq!(snap.gaps_detected, 1);
    assert!(!old.is_empty());
    run.stop().await;
    e.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_from_an_old_cursor_pages_to_the_end_and_hands_over_to_the_stream() {
    let e = env(4).await;
    let history = e.pay(5, 2, 100);
    assert_eq!(history.len(), 1000);
    e.sim
        .inject_for(RouteKind::AccountPayments, Fault::Status5xx(503));
    let stored = toid::encode(START - 1, 0xF_FFFF, 0xFFF);
    let run = start(e.config(), e.shop, Some(stored));
    run.streaming().await;
    let live = e.pay(5, 1, 10);
    wait_until(Duration::from_secs(15), "history and live", || {
        run.sink.op_ids().len() >= 1050
    })
    .await;
    let got = run.sink.op_ids();
    assert_eq!(got, [history.clone(), live].concat());
    assert_strictly_increasing(&got);
    let batches = run.sink.log().batches.clone();
    let catch_up: Vec<_> = batches
        .iter()
        .filter(|b| b.phase == Phase::CatchUp)
        .collect();
    assert_eq!(catch_up.len(), 5);
    assert!(catch_up.iter().all(|b| b.records.len() == 200));
    assert_eq!(catch_up.last().unwrap().up_to, *history.last().unwrap());
    assert!(batches[5..].iter().all(|b| b.phase == Phase::Live));
    let first_resume = e.sim.stream_last_event_ids()[0].clone().unwrap();
    assert_eq!(first_resume, history.last().unwrap().to_string());
    assert_eq!(run.status.snapshot().errors, 1, "the injected 503");
    run.stop().await;
    e.server.shutdown().await;
}

#[tokio::test]
async fn a_testnet_reset_halts_the_account() {
    let e = env(5).await;
    let mut cfg = e.config();
    cfg.follow.retention_check_interval = Duration::from_millis(200);
    let run = start(cfg, e.shop, None);
    run.streaming().await;
    let ids = e.pay(2, 1, 1);
    wait_until(Duration::from_secs(5), "records", || {
        run.sink.op_ids() == ids
    })
    .await;
    e.sim.reset_network(2);
    let exit = tokio::time::timeout(Duration::from_secs(5), run.task)
        .await
        .expect("halts on the scheduled check")
        .unwrap();
    let FollowerExit::Halted(HaltReason::NetworkReset {
        cursor_ledger,
        latest_ledger,
    }) = exit
    else {
        panic!("{exit:?}")
    };
    assert_eq!(cursor_ledger, START + 1);
    assert!(latest_ledger < 10);
    let snap = run.status.snapshot();
    assert!(snap.reset);
    assert!(matches!(snap.state, FollowerState::Halted { .. }));
    assert_eq!(
        snap.cursor,
        ids.last().copied(),
        "cursor kept for the operator"
    );

    // Restarting from the stored cursor halts at once, before reading anything.
    let before = e.sim.request_count(RouteKind::AccountPayments);
    let again = start(e.config(), e.shop, snap.cursor);
    let exit = tokio::time::timeout(Duration::from_secs(5), again.task)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        exit,
        FollowerExit::Halted(HaltReason::NetworkReset { .. })
    ));
    assert_eq!(e.sim.request_count(RouteKind::AccountPayments), before);
    e.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_traffic_under_stream_faults_matches_the_rest_history_exactly() {
    let e = env(6).await;
    let mut cfg = e.config();
    cfg.stream_limit = 7;
    let run = start(cfg.clone(), e.shop, None);
    run.streaming().await;
    let init = run.sink.log().init.unwrap();
    for f in [
        Fault::DropMidEvent,
        Fault::Status5xx(502),
        Fault::ErrorEvent("problem: timeout".into()),
        Fault::MalformedDataLine,
        Fault::SlowDrip {
            chunk_bytes: 64,
            interval: Duration::from_millis(1),
        },
    ] {
        e.sim.inject_for(RouteKind::AccountPaymentsStream, f);
    }
    e.sim.random_traffic(150, &[e.shop]);

    // Ground truth: the simulator's REST history after the starting point.
    let source = HorizonSource::new(cfg).unwrap();
    let mut truth = Vec::new();
    let mut cursor = init;
    loop {
        let page = source.payments_page(&e.shop, cursor, 200).await.unwrap();
        if page.records.is_empty() {
            break;
        }
        for r in page.records {
            let r = r.expect("simulator records are readable");
            cursor = r.op_id;
            truth.push(r.op_id);
        }
    }
    assert!(truth.len() > 50, "{} records", truth.len());
    wait_until(Duration::from_secs(20), "all records", || {
        run.sink.last_up_to() == truth.last().copied()
    })
    .await;
    let batches = run.sink.log().batches.clone();
    let unreadable = batches
        .iter()
        .flat_map(|b| &b.records)
        .filter(|r| r.is_err())
        .count();
    assert_eq!(
        unreadable, 0,
        "the line corrupted once was read again, not handed over"
    );
    assert_eq!(
        run.sink.op_ids(),
        truth,
        "each record credited exactly once, in order"
    );
    let snap = run.status.snapshot();
    assert_eq!(snap.malformed, 1);
    assert!(snap.errors >= 3, "{snap:?}");
    assert_eq!(e.sim.pending_faults(), 0);
    run.stop().await;
    e.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_corrupted_on_every_read_is_handed_over_once_and_the_rest_goes_on() {
    let e = env(7).await;
    let mut cfg = e.config();
    // One event per connection: every reconnect reads the record just past the cursor first.
    cfg.stream_limit = 1;
    let run = start(cfg, e.shop, None);
    run.streaming().await;
    // The open connection has no fault; the next five each corrupt their first data line.
    for _ in 0..5 {
        e.sim
            .inject_for(RouteKind::AccountPaymentsStream, Fault::MalformedDataLine);
    }
    let ids = e.pay(1, 1, 4);
    wait_until(Duration::from_secs(20), "every record", || {
        run.sink.last_up_to() == ids.last().copied()
    })
    .await;
    let batches = run.sink.log().batches.clone();
    let shape: Vec<(Vec<Option<i64>>, bool)> = batches
        .iter()
        .map(|b| (b.tokens(), b.records[0].is_err()))
        .collect();
    assert_eq!(
        shape,
        vec![
            (vec![Some(ids[0])], false),
            (vec![Some(ids[1])], true),
            (vec![Some(ids[2])], false),
            (vec![Some(ids[3])], false),
        ],
        "the persistently broken record alone, with its token; nothing else lost"
    );
    assert_eq!(batches[1].up_to, ids[1]);
    assert_eq!(run.status.snapshot().malformed, 5);
    assert_eq!(e.sim.pending_faults(), 0);
    run.stop().await;
    e.server.shutdown().await;
}
