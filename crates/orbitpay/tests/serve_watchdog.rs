//! The watchdog pings only while the liveness check passes: a wedged ingest loop stops them.
//! In-process: the daemon's own `serve::run`, with the ingestion replaced.

mod serve_support;

use std::sync::Arc;
use std::time::Duration;

use orbitpay::config::{Config, Secret, StartCursor, WatchedAccount};
use orbitpay::leader::AccountIngest;
use orbitpay::liveness::Liveness;
use orbitpay::notify::Notifier;
use orbitpay::serve::{self, ServeOptions, Wiring};
use orbitpay_core::AccountId;
use orbitpay_testkit::TestDb;
use serve_support::split_password;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

const ACCOUNT: &str = "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7";

/// Registers a heartbeat, makes progress once, then either wedges (never marks again) or goes
/// legitimately idle.
struct FakeIngest {
    liveness: Liveness,
    wedge: bool,
}

#[async_trait::async_trait]
impl AccountIngest for FakeIngest {
    async fn run(
        &self,
        account: AccountId,
        _start: StartCursor,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let heartbeat = self.liveness.register(format!("ingest {account}"));
        heartbeat.beat();
        if !self.wedge {
            heartbeat.idle();
        }
        shutdown.cancelled().await;
        Ok(())
    }
}

fn config(db: &TestDb, dir: &std::path::Path) -> Config {
    let (url, pw) = split_password(db.url());
    let mut c = Config::default();
    c.database.url = url;
    c.database.password = Secret::new(pw.unwrap_or_default());
    c.database.pool_size = 3;
    c.horizon.url = "http://127.0.0.1:9".into();
    c.accounts = vec![WatchedAccount::new(ACCOUNT)];
    c.admin.socket = dir.join("admin.sock");
    c.ingest.leader_retry = Duration::from_millis(200);
    c.ingest.stuck_after = Duration::from_secs(1);
    c.ingest.shutdown_grace = Duration::from_secs(5);
    c
}

async fn pings_after_warmup(wedge: bool) -> usize {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = oneshot::channel();
    let shutdown = CancellationToken::new();
    let options = ServeOptions {
        notifier: Notifier::Channel(tx),
        wiring: Some(Box::new(move |ctx| {
            let liveness = ctx.liveness.clone();
            let mut wiring = Wiring::production(ctx)?;
            wiring.ingest = Arc::new(FakeIngest { liveness, wedge });
            Ok(wiring)
        })),
        on_ready: Some(ready_tx),
        watchdog_interval: Some(Duration::from_millis(100)),
        ..ServeOptions::embedded(shutdown.clone())
    };
    let daemon = tokio::spawn(serve::run(config(&db, dir.path()), options));
    let ready = tokio::time::timeout(Duration::from_secs(30), ready_rx)
        .await
        .expect("ready in time")
        .expect("ready");
    // The account is led (so the ingest loop registered) before we judge.
    serve_support::eventually(
        Duration::from_secs(10),
        "the ingest loop to register",
        || {
            let loops = ready.liveness.loops();
            async move { !loops.is_empty() }
        },
    )
    .await;
    // Past stuck_after (1 s) a wedged loop has stopped the pings.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    while rx.try_recv().is_ok() {}
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut pings = 0;
    while let Ok(msg) = rx.try_recv() {
        if msg == "WATCHDOG=1" {
            pings += 1;
        }
    }
    if wedge {
        assert!(ready.liveness.check().is_err());
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), daemon)
        .await
        .expect("stops in time")
        .unwrap()
        .unwrap();
    let mut rest = Vec::new();
    while let Ok(msg) = rx.try_recv() {
        rest.push(msg);
    }
    assert!(rest.contains(&"STOPPING=1".to_owned()), "{rest:?}");
    pings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wedged_ingest_loop_stops_the_watchdog() {
    assert_eq!(pings_after_warmup(true).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_ingest_loop_keeps_the_watchdog_fed() {
    let pings = pings_after_warmup(false).await;
    assert!(pings >= 3, "only {pings} pings in 1 s at 100 ms");
}
