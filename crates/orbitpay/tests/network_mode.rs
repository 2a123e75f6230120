//! Network mode (`ingest.mode = "network"`): one follower of the network's payments, routed to
//! the watched accounts. Real binaries, the Horizon simulator, a fresh database: a restart
//! catches up a backlog spread over 1,000 accounts exactly once; an account added with an old
//! start is caught up on its own across the handover; switching modes across restarts misses
//! and doubles nothing; strangers' payments write nothing but the periodic cursor.

mod serve_support;

use std::process::Child;
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Text, Timestamptz};
use diesel_async::RunQueryDsl as _;
use futures::StreamExt as _;
use orbitpay::config::now_token;
use orbitpay_core::{AccountId, Asset};
use orbitpay_horizon_sim::{HorizonSim, Op, ServerHandle, Tx, derive_account, stroops};
use orbitpay_testkit::TestDb;
use serde_json::Value;
use serve_support::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

struct Daemon {
    child: Child,
    files: DaemonFiles,
}

impl Daemon {
    fn socket(&self) -> std::path::PathBuf {
        self.files.path("admin.sock")
    }

    /// SIGTERM, and a clean exit.
    fn stop(mut self) {
        signal(&self.child, "TERM");
        let status = wait_exit(&mut self.child, Duration::from_secs(15)).expect("exits");
        assert!(status.success(), "{status:?}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The simulator and a fresh database.
struct World {
    db: TestDb,
    sim: HorizonSim,
    horizon: ServerHandle,
}

impl World {
    async fn new(seed: u64) -> World {
        let sim = HorizonSim::with_seed(seed);
        let horizon = sim.serve("127.0.0.1:0").await.unwrap();
        World {
            db: TestDb::new().await,
            sim,
            horizon,
        }
    }

    /// `orbitpay serve` in `mode`, watching `accounts` from `start` (applied once: a stored
    /// cursor wins).
    fn start(&self, accounts: &[AccountId], start: i64, mode: &str) -> Daemon {
        for a in accounts {
            self.sim.register_account(*a);
        }
        let files = DaemonFiles::new();
        let (_, pw) = split_password(self.db.url());
        let config = files.write_config(
            self.db.url(),
            &pw.unwrap_or_default(),
            self.horizon.base_url(),
            &[],
            "[log]\nformat = \"json\"\nlevel = \"info\"\n",
        );
        let list: Vec<String> = accounts
            .iter()
            .map(|a| format!("{{ address = \"{a}\", start_cursor = \"{start}\" }}"))
            .collect();
        let text = std::fs::read_to_string(&config).unwrap().replace(
            "accounts = []\n",
            &format!("accounts = [{}]\n", list.join(", ")),
        );
        std::fs::write(&config, text).unwrap();
        let mut notify = NotifySocket::bind(files.path("notify.sock"));
        let child = orbitpay_command(&["serve", "--config", config.to_str().unwrap()])
            .env("NOTIFY_SOCKET", &notify.path)
            .env("ORBITPAY_INGEST__MODE", mode)
            .stdout(
                std::fs::File::create(format!("/tmp/nm-{}-{mode}.log", self.sim.seed())).unwrap(),
            )
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        assert!(
            notify
                .wait_for(Duration::from_secs(60), |l| l == "READY=1")
                .is_some(),
            "daemon not ready"
        );
        Daemon { child, files }
    }

    async fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = self.db.conn().await;
        let n: N = diesel::sql_query(sql).get_result(&mut conn).await.unwrap();
        n.n
    }

    /// Waits until `sql` (a `count(*) AS n`) reaches `n`.
    async fn until_count(&self, sql: &str, n: i64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let got = self.count(sql).await;
            if got == n {
                return;
            }
            assert!(got < n, "{sql}: {got} > {n}");
            assert!(Instant::now() < deadline, "{sql}: {got}, expected {n}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The network cursor row: (paging_token, updated_at as text).
    async fn network_row(&self) -> Option<(i64, String)> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            paging_token: i64,
            #[diesel(sql_type = Timestamptz)]
            updated_at: chrono::DateTime<chrono::Utc>,
        }
        let mut conn = self.db.conn().await;
        let row: Option<Row> = diesel::sql_query(
            "SELECT paging_token, updated_at FROM stream_cursors WHERE account = 'network'",
        )
        .get_result(&mut conn)
        .await
        .ok();
        row.map(|r| (r.paging_token, r.updated_at.to_rfc3339()))
    }

    async fn account_cursor(&self, account: &AccountId) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            paging_token: i64,
        }
        let mut conn = self.db.conn().await;
        let row: Row =
            diesel::sql_query("SELECT paging_token FROM stream_cursors WHERE account = $1")
                .bind::<Text, _>(account.to_string())
                .get_result(&mut conn)
                .await
                .unwrap();
        row.paging_token
    }
}

/// A POST on the admin socket with an idempotency key: (status, body).
async fn post(socket: &std::path::Path, path: &str, body: &str) -> (u16, Value) {
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nIdempotency-Key: {}\r\nContent-Length: {}\r\n\r\n{body}",
        uuid::Uuid::new_v4(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status: u16 = response[9..12].parse().unwrap();
    let json = response.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

/// A native session of `amount` XLM on `account`; its memo id.
async fn session_for(socket: &std::path::Path, account: &AccountId, amount: &str) -> u64 {
    let (status, body) = post(
        socket,
        "/v1/sessions",
        &format!(r#"{{"amount":"{amount}","asset":"native","account":"{account}"}}"#),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    memo_id(&body)
}

/// One transaction paying `xlm` XLM to `to` under `memo` (none: no memo).
fn payment(payer: AccountId, to: AccountId, memo: Option<u64>, xlm: i64) -> Tx {
    let tx = Tx::new(payer);
    let tx = match memo {
        Some(m) => tx.memo_id(m),
        None => tx,
    };
    tx.op(Op::payment(
        payer,
        to,
        Asset::Native,
        stroops(xlm * 10_000_000),
    ))
}

/// The network follower's state in `/v1/status`, once it is `state`.
async fn network_state(socket: &std::path::Path, state: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let status = get_json(socket, "/v1/status").await;
        if status["network"]["state"] == state {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "network not {state}: {}",
            status["network"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the network's follower (in memory) has handled a record of `ledger`.
async fn network_reaches(socket: &std::path::Path, ledger: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = get_json(socket, "/v1/status").await;
        let cursor = s["network"]["cursor"].as_i64().unwrap_or(0);
        if orbitpay_core::toid::ledger(cursor) >= ledger {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "network not at ledger {ledger}: {}",
            s["network"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const PAID_ALL: &str = "SELECT count(*) AS n FROM sessions WHERE status = 'paid'";
const EXACT: &str = "SELECT count(*) AS n FROM sessions WHERE amount_received = amount";
const OPS: &str = "SELECT count(*) AS n FROM payment_operations";
const UNMATCHED: &str = "SELECT count(*) AS n FROM unmatched_payments";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_mode_restart_credits_a_backlog_over_a_thousand_accounts_exactly_once() {
    let w = World::new(31).await;
    let accounts: Vec<AccountId> = (0..1000).map(|i| derive_account(31, 100 + i)).collect();
    let start = now_token(w.sim.latest_ledger());
    let daemon = w.start(&accounts, start, "network");
    network_state(&daemon.socket(), "streaming", Duration::from_secs(20)).await;
    let socket = daemon.socket();
    let memos: Vec<u64> = futures::stream::iter(&accounts)
        .map(|a| session_for(&socket, a, "1"))
        .buffered(8)
        .collect()
        .await;
    daemon.stop();

    // While it is down: each session paid, 100 accounts a ledger, with the strangers'
    // traffic in between.
    for (chunk, memo_chunk) in accounts.chunks(100).zip(memos.chunks(100)) {
        let txs = chunk
            .iter()
            .zip(memo_chunk)
            .enumerate()
            .map(|(i, (a, m))| payment(derive_account(31, 5000 + i as u64), *a, Some(*m), 1))
            .collect();
        w.sim.close_ledger(txs);
        w.sim.close_network_ledger(100, &[], 0);
    }

    let daemon = w.start(&accounts, start, "network");
    w.until_count(PAID_ALL, 1000, Duration::from_secs(40)).await;
    assert_eq!(
        w.count(EXACT).await,
        1000,
        "every session received exactly 1 XLM"
    );
    assert_eq!(w.count(OPS).await, 1000, "every payment credited once");
    assert_eq!(w.count(UNMATCHED).await, 0);
    let status = network_state(&daemon.socket(), "streaming", Duration::from_secs(10)).await;
    let (network, _) = w.network_row().await.expect("network cursor stored");
    assert!(status["network"]["cursor"].as_i64().unwrap() >= network);
    // Each account's own cursor moved with the network's (kept true for a switch back).
    assert_eq!(w.account_cursor(&accounts[0]).await, network);
    assert_eq!(w.account_cursor(&accounts[999]).await, network);
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_added_with_an_old_start_is_credited_once_across_the_handover() {
    let w = World::new(32).await;
    let watched: Vec<AccountId> = (0..3).map(|i| derive_account(32, 10 + i)).collect();
    let late = derive_account(32, 20);
    let daemon = w.start(&watched, now_token(w.sim.latest_ledger()), "network");
    network_state(&daemon.socket(), "streaming", Duration::from_secs(20)).await;

    // Before it is watched: 1,000 payments to `late` (5 pages), among strangers' traffic.
    let from = now_token(w.sim.latest_ledger());
    for l in 0..10u64 {
        let txs = (0..100)
            .map(|i| payment(derive_account(32, 1000 + l * 100 + i), late, None, 1))
            .collect();
        w.sim.close_ledger(txs);
        w.sim.close_network_ledger(50, &watched, 0);
    }
    // The network has gone past them (nobody watched them): its cursor is ahead of `from`.
    network_reaches(&daemon.socket(), w.sim.latest_ledger()).await;

    // Added with a start before all of them; a session paid in 20 parts while it is handed
    // over (and after).
    let (status, body) = post(
        &daemon.socket(),
        "/v1/accounts",
        &format!(r#"{{"address":"{late}","start_cursor":"{from}"}}"#),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let memo = session_for(&daemon.socket(), &late, "20").await;
    for i in 0..20u64 {
        w.sim.close_ledger(vec![payment(
            derive_account(32, 3000 + i),
            late,
            Some(memo),
            1,
        )]);
        w.sim.close_network_ledger(50, &[], 0);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    w.until_count(PAID_ALL, 1, Duration::from_secs(20)).await;
    assert_eq!(w.count(EXACT).await, 1, "paid exactly 20 XLM");
    assert_eq!(w.count(OPS).await, 20, "each part credited once");
    w.until_count(UNMATCHED, 1000, Duration::from_secs(20))
        .await;
    let no_reference = "SELECT count(*) AS n FROM unmatched_payments WHERE reason = 'no_reference'";
    assert_eq!(
        w.count(no_reference).await,
        1000,
        "the backlog recorded once each"
    );

    // The handover ends: the account is the network's alone, its cursor moving with it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = get_json(&daemon.socket(), "/v1/status").await;
        if s["network"]["handover"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "handover not over: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_modes_across_restarts_misses_nothing_and_doubles_nothing() {
    let w = World::new(33).await;
    let accounts: Vec<AccountId> = (0..3).map(|i| derive_account(33, 10 + i)).collect();
    let start = now_token(w.sim.latest_ledger());
    let payer = |n: u64| derive_account(33, 100 + n);
    let pay_all = |round: u64, memos: &[u64]| {
        let txs = accounts
            .iter()
            .zip(memos)
            .enumerate()
            .map(|(i, (a, m))| payment(payer(round * 10 + i as u64), *a, Some(*m), 1))
            .collect();
        w.sim.close_ledger(txs);
        w.sim.close_network_ledger(100, &[], 0);
    };

    let daemon = w.start(&accounts, start, "per_account");
    let mut memos = Vec::new();
    for a in &accounts {
        memos.push(session_for(&daemon.socket(), a, "4").await);
    }
    pay_all(0, &memos);
    w.until_count(OPS, 3, Duration::from_secs(20)).await;
    daemon.stop();
    assert!(w.network_row().await.is_none());

    // per_account -> network: the network starts at the lowest account cursor.
    pay_all(1, &memos);
    let daemon = w.start(&accounts, start, "network");
    w.until_count(OPS, 6, Duration::from_secs(20)).await;
    network_state(&daemon.socket(), "streaming", Duration::from_secs(10)).await;
    pay_all(2, &memos);
    w.until_count(OPS, 9, Duration::from_secs(20)).await;
    daemon.stop();
    let (network, _) = w.network_row().await.expect("network cursor stored");
    for a in &accounts {
        assert_eq!(w.account_cursor(a).await, network, "{a} kept true");
    }

    // network -> per_account: each account resumes from its own (true) cursor.
    pay_all(3, &memos);
    let daemon = w.start(&accounts, start, "per_account");
    w.until_count(OPS, 12, Duration::from_secs(20)).await;
    w.until_count(PAID_ALL, 3, Duration::from_secs(5)).await;
    assert_eq!(w.count(EXACT).await, 3, "4 XLM each, every part once");
    assert_eq!(w.count(UNMATCHED).await, 0);
    assert!(
        get_json(&daemon.socket(), "/v1/status").await["network"].is_null(),
        "per-account mode has no network follower"
    );
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_payments_write_nothing_but_the_periodic_cursor() {
    let w = World::new(34).await;
    let accounts: Vec<AccountId> = (0..3).map(|i| derive_account(34, 10 + i)).collect();
    let start = now_token(w.sim.latest_ledger());
    let daemon = w.start(&accounts, start, "network");
    network_state(&daemon.socket(), "streaming", Duration::from_secs(20)).await;
    let before = w
        .network_row()
        .await
        .expect("network cursor stored at start");
    let events = "SELECT count(*) AS n FROM outbox_events";
    let events_before = w.count(events).await;

    // 2,000 payments between strangers: read (the follower's cursor passes them) ...
    for _ in 0..10 {
        w.sim.close_network_ledger(200, &[], 0);
    }
    network_reaches(&daemon.socket(), w.sim.latest_ledger()).await;
    // ... and nothing written: not even the cursor, inside the 30 s flush interval.
    assert_eq!(w.network_row().await, Some(before));
    assert_eq!(w.count(OPS).await, 0);
    assert_eq!(w.count(UNMATCHED).await, 0);
    assert_eq!(w.count(events).await, events_before);
    for a in &accounts {
        assert_eq!(w.account_cursor(a).await, start);
    }
    daemon.stop();
}
