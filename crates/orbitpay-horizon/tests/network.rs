//! Network mode against the simulator: one follower of the network's `/payments`, routing each
//! record in memory to the watched accounts it pays.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use orbitpay_core::{AccountId, Asset};
use orbitpay_horizon::{
    Follower, FollowerExit, HorizonConfig, HorizonSource, LedgerSource, NetworkSink, NetworkTarget,
    RoutedBatch, SinkError, WatchedSet,
};
use orbitpay_horizon_sim::{
    Fault, HorizonSim, Op, RouteKind, ServerHandle, SimConfig, Tx, derive_account, units,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Log {
    init: Option<i64>,
    batches: Vec<RoutedBatch>,
}

/// Records every routed batch it is handed.
#[derive(Clone, Default)]
struct NetSink(Arc<Mutex<Log>>);

impl NetSink {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.0.lock().unwrap()
    }

    /// Every op id handed to `account`, in delivery order.
    fn op_ids(&self, account: &AccountId) -> Vec<i64> {
        self.log()
            .batches
            .iter()
            .filter_map(|b| b.accounts.get(account))
            .flatten()
            .map(|r| r.as_ref().unwrap().op_id)
            .collect()
    }

    fn batches(&self) -> Vec<RoutedBatch> {
        self.log().batches.clone()
    }

    fn last_up_to(&self) -> Option<i64> {
        self.log().batches.last().map(|b| b.up_to)
    }
}

#[async_trait]
impl NetworkSink for NetSink {
    async fn initialise_cursor(&mut self, token: i64) -> Result<(), SinkError> {
        self.log().init = Some(token);
        Ok(())
    }

    async fn handle_routed(&mut self, batch: &RoutedBatch) -> Result<(), SinkError> {
        self.log().batches.push(batch.clone());
        Ok(())
    }
}

struct Env {
    sim: HorizonSim,
    server: ServerHandle,
}

async fn env(seed: u64) -> Env {
    let sim = HorizonSim::new(SimConfig {
        seed,
        stream_timeout: Duration::from_millis(800),
        ..SimConfig::default()
    });
    let server = sim.serve("127.0.0.1:0").await.unwrap();
    Env { sim, server }
}

impl Env {
    fn config(&self, page_limit: u32) -> HorizonConfig {
        let mut c = fast_config(self.server.base_url());
        c.follow.stall_timeout = Duration::from_secs(3);
        c.follow.page_limit = page_limit;
        c
    }

    /// One ledger of payments from strangers, `to[i]` receiving payment `i`; the op ids.
    fn pay(&self, to: &[AccountId]) -> Vec<i64> {
        let txs: Vec<Tx> = to
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let from = derive_account(self.sim.seed() ^ 0xF00, i as u64 % 7);
                Tx::new(from).op(Op::payment(from, *a, Asset::Native, units(1)))
            })
            .collect();
        let closed = self.sim.close_ledger(txs);
        closed.txs.iter().map(|t| t.op_ids[0]).collect()
    }
}

struct Running {
    sink: NetSink,
    watched: watch::Sender<WatchedSet>,
    cancel: CancellationToken,
    task: JoinHandle<FollowerExit>,
}

fn start(
    cfg: HorizonConfig,
    watched: &[AccountId],
    stored: Option<i64>,
    cursor_flush: Duration,
) -> Running {
    let sink = NetSink::default();
    let (tx, rx) = watch::channel(Arc::new(watched.iter().copied().collect::<HashSet<_>>()));
    let follow = cfg.follow.clone();
    let source: Arc<dyn LedgerSource> = Arc::new(HorizonSource::new(cfg).unwrap());
    let target = NetworkTarget::new(sink.clone(), rx, source.clone()).cursor_flush(cursor_flush);
    let f = Follower::following(target, source, follow, stored);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(f.run(cancel.clone()));
    Running {
        sink,
        watched: tx,
        cancel,
        task,
    }
}

impl Running {
    async fn stop(self) -> NetSink {
        self.cancel.cancel();
        let exit = tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(exit, FollowerExit::Cancelled);
        self.sink
    }
}

const NEVER: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn records_for_unwatched_accounts_are_dropped_without_a_write() {
    let e = env(60).await;
    let (a, b) = (derive_account(60, 1), derive_account(60, 2));
    let strangers: Vec<AccountId> = (10..30).map(|i| derive_account(60, i)).collect();
    let start_cursor = (i64::from(e.sim.latest_ledger() + 1) << 32) - 1;
    // Pages of 10: two pages of strangers only, then one payment to each watched account.
    e.pay(&strangers);
    let to_a = e.pay(&[strangers[0], a, strangers[1]]);
    e.pay(&strangers);
    let to_b = e.pay(&[b]);
    let last = to_b[0];
    let r = start(e.config(10), &[a, b], Some(start_cursor), NEVER);
    wait_until(Duration::from_secs(10), "both payments routed", || {
        r.sink.last_up_to() == Some(last)
    })
    .await;
    let sink = r.stop().await;
    assert_eq!(sink.op_ids(&a), [to_a[1]]);
    assert_eq!(sink.op_ids(&b), to_b);
    let log = sink.batches();
    // Only the batches that pay a watched account were written: the pages of strangers moved
    // the cursor in memory and cost no call at all.
    assert_eq!(
        log.len(),
        2,
        "{:?}",
        log.iter().map(|b| b.up_to).collect::<Vec<_>>()
    );
    assert!(log.iter().all(|b| !b.is_cursor_only()));
    // The cursor written with a's batch covers the strangers before it on that page.
    assert!(log[0].up_to >= to_a[1]);
    assert_eq!(log[1].up_to, last);
    let watched: HashSet<AccountId> = [a, b].into();
    for batch in &log {
        assert!(batch.accounts.keys().all(|k| watched.contains(k)));
    }
    e.server.shutdown().await;
}

#[tokio::test]
async fn a_contract_payment_to_several_watched_accounts_goes_to_each_of_them() {
    let e = env(61).await;
    let (a, b, c) = (
        derive_account(61, 1),
        derive_account(61, 2),
        derive_account(61, 3),
    );
    let payer = derive_account(61, 9);
    let start_cursor = (i64::from(e.sim.latest_ledger() + 1) << 32) - 1;
    let closed = e.sim.close_ledger(vec![Tx::new(payer).op(Op::sac_split(
        payer,
        Asset::Native,
        [(a, units(1)), (c, units(2)), (b, units(3))],
    ))]);
    let id = closed.txs[0].op_ids[0];
    let r = start(e.config(200), &[a, b], Some(start_cursor), NEVER);
    wait_until(Duration::from_secs(10), "the split routed", || {
        r.sink.last_up_to() == Some(id)
    })
    .await;
    let sink = r.stop().await;
    let log = sink.batches();
    assert_eq!(log.len(), 1);
    let routed: BTreeMap<_, Vec<i64>> = log[0]
        .accounts
        .iter()
        .map(|(k, v)| (*k, v.iter().map(|r| r.as_ref().unwrap().op_id).collect()))
        .collect();
    // One record, handed whole to each watched recipient (c is not watched).
    assert_eq!(routed, BTreeMap::from([(a, vec![id]), (b, vec![id])]));
    e.server.shutdown().await;
}

#[tokio::test]
async fn only_a_merge_into_a_watched_account_costs_an_effects_request() {
    let e = env(65).await;
    let a = derive_account(65, 1);
    let (gone, stranger, other) = (
        derive_account(65, 7),
        derive_account(65, 8),
        derive_account(65, 9),
    );
    let start_cursor = (i64::from(e.sim.latest_ledger() + 1) << 32) - 1;
    let closed = e.sim.close_ledger(vec![
        Tx::new(stranger).op(Op::account_merge(stranger, other, units(5))),
        Tx::new(gone).op(Op::account_merge(gone, a, units(7))),
    ]);
    let id = closed.txs[1].op_ids[0];
    let r = start(e.config(200), &[a], Some(start_cursor), NEVER);
    wait_until(Duration::from_secs(10), "the merge routed", || {
        r.sink.last_up_to() == Some(id)
    })
    .await;
    let sink = r.stop().await;
    let routed = sink.batches()[0].accounts[&a].clone();
    let rec = routed[0].as_ref().unwrap();
    assert_eq!(rec.op_id, id);
    match &rec.operation {
        orbitpay_core::Operation::AccountMerge { amount, .. } => {
            assert_eq!(*amount, Some(units(7)));
        }
        other => panic!("{other:?}"),
    }
    // The strangers' merge was dropped without asking for its effects.
    let effects = e.sim.requests_for(RouteKind::OperationEffects);
    assert_eq!(effects.len(), 1, "{effects:?}");
    assert!(effects[0].path.contains(&id.to_string()));
    e.server.shutdown().await;
}

#[tokio::test]
async fn an_account_added_at_runtime_is_routed_from_the_next_batch() {
    let e = env(62).await;
    let (a, b) = (derive_account(62, 1), derive_account(62, 2));
    e.sim.register_account(a);
    let r = start(e.config(200), &[a], None, NEVER);
    wait_until(Duration::from_secs(10), "initialised", || {
        r.sink.log().init.is_some()
    })
    .await;
    // Let the stream open.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let first = e.pay(&[a, b]);
    wait_until(Duration::from_secs(10), "first routed", || {
        r.sink.last_up_to() >= Some(first[0])
    })
    .await;
    r.watched
        .send(Arc::new([a, b].into_iter().collect()))
        .unwrap();
    let second = e.pay(&[b, a]);
    wait_until(Duration::from_secs(10), "second routed", || {
        r.sink.last_up_to() == Some(second[1])
    })
    .await;
    let sink = r.stop().await;
    assert_eq!(sink.op_ids(&a), [first[0], second[1]]);
    // b's first payment came before b was watched: not routed (not credited).
    assert_eq!(sink.op_ids(&b), [second[0]]);
    e.server.shutdown().await;
}

#[tokio::test]
async fn the_cursor_is_written_alone_once_the_flush_interval_passes() {
    let e = env(63).await;
    let a = derive_account(63, 1);
    let strangers: Vec<AccountId> = (10..20).map(|i| derive_account(63, i)).collect();
    let start_cursor = (i64::from(e.sim.latest_ledger() + 1) << 32) - 1;
    let ids = e.pay(&strangers);
    let last = *ids.last().unwrap();
    let r = start(e.config(200), &[a], Some(start_cursor), Duration::ZERO);
    wait_until(Duration::from_secs(10), "the cursor flushed", || {
        r.sink.last_up_to() == Some(last)
    })
    .await;
    let sink = r.stop().await;
    let log = sink.batches();
    assert!(log.iter().all(RoutedBatch::is_cursor_only));
    e.server.shutdown().await;
}

#[tokio::test]
async fn a_network_follower_across_many_forced_closes_delivers_every_record_once_in_order() {
    let e = env(64).await;
    let watched: Vec<AccountId> = (0..5).map(|i| derive_account(64, 100 + i)).collect();
    for a in &watched {
        e.sim.register_account(*a);
    }
    // Every stream ends after 3 events, as a busy network ends Horizon's after `limit`.
    e.sim.set_stream_event_limit(Some(3));
    let r = start(e.config(200), &watched, None, NEVER);
    wait_until(Duration::from_secs(10), "streaming", || {
        e.sim.request_count(RouteKind::PaymentsStream) > 0
    })
    .await;
    let sim = e.sim.clone();
    let w = watched.clone();
    let traffic = tokio::spawn(async move {
        for i in 0..40 {
            sim.close_network_ledger(25, &w, 100);
            if i % 10 == 3 {
                sim.inject_for(RouteKind::PaymentsStream, Fault::DropMidEvent);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    traffic.await.unwrap();
    // What each watched account's own list holds from the start: the network follower must
    // hand it exactly that.
    let source = HorizonSource::new(e.config(200)).unwrap();
    let init = r.sink.log().init.unwrap();
    let mut wants = Vec::new();
    for a in &watched {
        let mut want = Vec::new();
        let mut cursor = init;
        loop {
            let page = source.payments_page(a, cursor, 200).await.unwrap();
            if page.records.is_empty() {
                break;
            }
            for rec in page.records {
                cursor = rec.unwrap().op_id;
                want.push(cursor);
            }
        }
        assert!(!want.is_empty());
        wants.push(want);
    }
    wait_until(Duration::from_secs(30), "everything routed", || {
        watched
            .iter()
            .zip(&wants)
            .all(|(a, want)| r.sink.op_ids(a).len() >= want.len())
    })
    .await;
    let sink = r.stop().await;
    let total: usize = wants.iter().map(Vec::len).sum();
    for (a, want) in watched.iter().zip(&wants) {
        assert_eq!(&sink.op_ids(a), want, "{a}: every record once, in order");
    }
    assert!(total > 50, "{total}");
    // Many routine closes, each resumed from the last handled token.
    let streams = e.sim.request_count(RouteKind::PaymentsStream);
    assert!(streams > 100, "{streams}");
    let ups: Vec<i64> = sink.batches().iter().map(|b| b.up_to).collect();
    assert!(ups.windows(2).all(|p| p[0] < p[1]));
    e.server.shutdown().await;
}
