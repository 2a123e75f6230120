//! A database outage is waited out, not turned into a restart loop: under a watchdog shorter
//! than the outage the pings go on and ingestion resumes after; a daemon started while the
//! database is down waits for it (saying so in STATUS= and extending systemd's start timeout)
//! instead of exiting. A private cluster, so stopping it hurts nothing else.

mod serve_support;

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use orbitpay::config::now_token;
use orbitpay_core::Asset;
use orbitpay_horizon_sim::{HorizonSim, Op, ServerHandle, Tx, derive_account, stroops};
use orbitpay_testkit::Cluster;
use serve_support::*;

/// A fresh cluster the `postgres` user (which runs it when we are root) can reach.
async fn private_cluster(files: &DaemonFiles) -> Cluster {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(files.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cluster = Cluster::at(files.path("pg"));
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.ensure_running())
        .await
        .unwrap()
        .unwrap();
    cluster
}

async fn stop(cluster: &Cluster) {
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.stop())
        .await
        .unwrap()
        .unwrap();
}

async fn start(cluster: &Cluster) {
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.ensure_running())
        .await
        .unwrap()
        .unwrap();
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_daemon(
    files: &DaemonFiles,
    cluster: &Cluster,
    horizon: &ServerHandle,
    sim: &HorizonSim,
    shop: &str,
    notify: &NotifySocket,
) -> Killed {
    let config = files.write_config(
        &cluster.url(),
        "",
        horizon.base_url(),
        &[],
        &format!(
            "[[accounts]]\naddress = \"{shop}\"\nstart_cursor = \"{}\"\n\n\
             [log]\nformat = \"json\"\nlevel = \"info\"\n",
            now_token(sim.latest_ledger())
        ),
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("accounts = []\n", "");
    std::fs::write(&config, text).unwrap();
    Killed(
        orbitpay_command(&["serve", "--config", config.to_str().unwrap()])
            .env("NOTIFY_SOCKET", &notify.path)
            // WatchdogSec=400ms: the daemon pings every 200 ms.
            .env("WATCHDOG_USEC", "400000")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Pays a fresh session and waits for it to be credited: ingestion works end to end.
async fn a_payment_is_credited(socket: &Path, sim: &HorizonSim, shop: &str, payer: &str) {
    // The pool reconnects on its own; until then an answer may be an error.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let session: serde_json::Value = loop {
        let (status, body) = http_post_session(socket, "5").await;
        if status == 201 {
            break serde_json::from_str(&body).unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no session created: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let shop: orbitpay_core::AccountId = shop.parse().unwrap();
    let payer: orbitpay_core::AccountId = payer.parse().unwrap();
    sim.close_ledger(vec![
        Tx::new(payer).memo_id(memo_id(&session)).op(Op::payment(
            payer,
            shop,
            Asset::Native,
            stroops(50_000_000),
        )),
    ]);
    wait_paid(
        socket,
        session["id"].as_str().unwrap(),
        Duration::from_secs(30),
    )
    .await;
}

async fn http_post_session(socket: &Path, amount: &str) -> (u16, String) {
    http_post_session_keyed(socket, amount, &uuid::Uuid::new_v4().to_string())
        .await
        .map(|(status, _, body)| (status, body))
        .unwrap_or_default()
}

/// POST /v1/sessions under `key`: (status, head, body); `None` when the socket is not there.
async fn http_post_session_keyed(
    socket: &Path,
    amount: &str,
    key: &str,
) -> Option<(u16, String, String)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let body = format!(r#"{{"amount":"{amount}","asset":"native"}}"#);
    let mut stream = tokio::net::UnixStream::connect(socket).await.ok()?;
    let request = format!(
        "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nIdempotency-Key: {key}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    Some((status, head.to_ascii_lowercase(), body.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_the_watchdog_keeps_the_pings_and_ingestion_resumes() {
    let files = DaemonFiles::new();
    let cluster = private_cluster(&files).await;
    let sim = HorizonSim::with_seed(61);
    let (shop, payer) = (derive_account(61, 0), derive_account(61, 1));
    sim.register_account(shop);
    sim.register_account(payer);
    let horizon = sim.serve("127.0.0.1:0").await.unwrap();
    let mut notify = NotifySocket::bind(files.path("notify.sock"));
    let daemon = spawn_daemon(&files, &cluster, &horizon, &sim, &shop.to_string(), &notify);
    assert!(
        notify
            .wait_for(Duration::from_secs(60), |l| l == "READY=1")
            .is_some(),
        "not ready: {:?}",
        notify.received
    );
    let socket = files.path("admin.sock");
    a_payment_is_credited(&socket, &sim, &shop.to_string(), &payer.to_string()).await;

    // Down for 3 s, more than seven times WatchdogSec.
    stop(&cluster).await;
    let during = notify.collect(Duration::from_secs(3));
    let pings = during.iter().filter(|l| *l == "WATCHDOG=1").count();
    eprintln!("watchdog pings during a 3 s outage (WatchdogSec=400ms): {pings}");
    assert!(
        pings >= 10,
        "{pings} watchdog pings during the outage: {during:?}"
    );
    let (status, _) = http(&socket, "GET", "/readyz", None).await;
    assert_eq!(status, 503, "not ready while the database is down");
    // A write during the outage says so (not a 500), and its retry afterwards creates once.
    let key = "order-during-outage";
    let (status, head, body) = http_post_session_keyed(&socket, "2", key).await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("DATABASE_UNAVAILABLE"), "{body}");
    assert!(head.contains("retry-after:"), "{head}");
    start(&cluster).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let created = loop {
        let (status, _, body) = http_post_session_keyed(&socket, "2", key).await.unwrap();
        if status == 201 {
            break body;
        }
        assert!(
            status == 503 && tokio::time::Instant::now() < deadline,
            "{status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (status, _, replayed) = http_post_session_keyed(&socket, "2", key).await.unwrap();
    assert_eq!(status, 200, "the retry replays");
    assert_eq!(replayed, created, "byte for byte");

    a_payment_is_credited(&socket, &sim, &shop.to_string(), &payer.to_string()).await;
    drop(daemon);
    stop(&cluster).await;
    horizon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_started_while_the_database_is_down_waits_for_it() {
    let files = DaemonFiles::new();
    let cluster = private_cluster(&files).await;
    stop(&cluster).await;
    let sim = HorizonSim::with_seed(62);
    let (shop, payer) = (derive_account(62, 0), derive_account(62, 1));
    sim.register_account(shop);
    sim.register_account(payer);
    let horizon = sim.serve("127.0.0.1:0").await.unwrap();
    let mut notify = NotifySocket::bind(files.path("notify.sock"));
    let mut daemon = spawn_daemon(&files, &cluster, &horizon, &sim, &shop.to_string(), &notify);

    assert!(
        notify
            .wait_for(Duration::from_secs(10), |l| l
                .starts_with("STATUS=waiting for the database"))
            .is_some(),
        "{:?}",
        notify.received
    );
    assert!(
        notify
            .wait_for(Duration::from_secs(10), |l| l
                .starts_with("EXTEND_TIMEOUT_USEC="))
            .is_some(),
        "{:?}",
        notify.received
    );
    notify.collect(Duration::from_secs(2));
    assert!(
        daemon.0.try_wait().unwrap().is_none(),
        "the daemon gave up on the database"
    );
    assert!(!notify.received.iter().any(|l| l == "READY=1"));

    start(&cluster).await;
    assert!(
        notify
            .wait_for(Duration::from_secs(30), |l| l == "READY=1")
            .is_some(),
        "not ready after the database came back: {:?}",
        notify.received
    );
    a_payment_is_credited(
        &files.path("admin.sock"),
        &sim,
        &shop.to_string(),
        &payer.to_string(),
    )
    .await;
    drop(daemon);
    stop(&cluster).await;
    horizon.shutdown().await;
}
