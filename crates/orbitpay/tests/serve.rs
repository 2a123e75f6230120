//! `orbitpay serve` as systemd runs it: READY=1 over NOTIFY_SOCKET, /readyz, watchdog pings,
//! STATUS=, JSON logs without secrets, and a clean drain on SIGTERM.

mod serve_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orbitpay_horizon_sim::{HorizonSim, derive_account};
use orbitpay_testkit::TestDb;
use serve_support::*;

fn capture(mut pipe: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let out = Arc::new(Mutex::new(String::new()));
    let sink = out.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_is_ready_answers_readyz_pings_the_watchdog_and_drains_on_sigterm() {
    let db = TestDb::new().await;
    let sim = HorizonSim::with_seed(11);
    let shop = derive_account(11, 0);
    sim.register_account(shop);
    let horizon = sim.serve("127.0.0.1:0").await.unwrap();
    let files = DaemonFiles::new();
    let (_, real_pw) = split_password(db.url());
    let secret = real_pw.unwrap_or_else(|| "sekrit-do-not-log-4242".to_owned());
    let config = files.write_config(
        db.url(),
        &secret,
        horizon.base_url(),
        &[shop.to_string()],
        "[metrics]\nlisten = \"127.0.0.1:0\"\nrefresh_interval = \"1s\"\n\n[log]\nformat = \"json\"\nlevel = \"debug,hyper=info,h2=info\"\n",
    );
    let mut notify = NotifySocket::bind(files.path("notify.sock"));

    let mut child = orbitpay_command(&["serve", "--config", config.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "400000")
        .spawn()
        .unwrap();
    let stdout = capture(child.stdout.take().unwrap());
    let stderr = capture(child.stderr.take().unwrap());

    let ready = notify.wait_for(Duration::from_secs(60), |l| l == "READY=1");
    assert!(
        ready.is_some(),
        "no READY=1; got {:?}\nstdout:\n{}\nstderr:\n{}",
        notify.received,
        stdout.lock().unwrap(),
        stderr.lock().unwrap()
    );

    let socket = files.path("admin.sock");
    let (status, body) = http(&socket, "GET", "/readyz", None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(&socket, "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(body.contains("orbitpay_"), "{body}");

    // Watchdog pings at half WatchdogSec (200 ms) while alive; a STATUS= line is sent.
    let window = notify.collect(Duration::from_millis(1500));
    let pings = window.iter().filter(|l| *l == "WATCHDOG=1").count();
    assert!(pings >= 3, "watchdog pings: {window:?}");
    assert!(
        notify
            .received
            .iter()
            .any(|l| l.starts_with("STATUS=leading")),
        "{:?}",
        notify.received
    );

    // The metrics listener (port 0 in the config) is logged with its address.
    let logs = stdout.lock().unwrap().clone();
    let listen = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "serving /metrics over TCP")
        .and_then(|v| v["listen"].as_str().map(str::to_owned))
        .expect("metrics listener logged");
    let mut tcp = tokio::net::TcpStream::connect(&listen).await.unwrap();
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    tcp.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for gauge in [
        "orbitpay_db_pool_connections{state=\"in_use\"}",
        "orbitpay_db_pool_waiting",
        "orbitpay_sessions{status=\"paid\"}",
        "orbitpay_unmatched_payments{reason=\"already_paid\"}",
        "orbitpay_unreadable_records 0",
        "orbitpay_outbox_depth",
        "orbitpay_outbox_oldest_age_seconds",
        "orbitpay_accounts{state=\"standby\"}",
        "orbitpay_alive 1",
    ] {
        assert!(text.contains(gauge), "{gauge} missing:\n{text}");
    }

    // SIGTERM: STOPPING=1, exit 0 within the bound, socket removed.
    let asked = Instant::now();
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(10)).expect("exits after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    assert!(asked.elapsed() < Duration::from_secs(7));
    assert!(
        notify
            .wait_for(Duration::from_secs(1), |l| l == "STOPPING=1")
            .is_some()
            || notify.received.iter().any(|l| l == "STOPPING=1"),
        "{:?}",
        notify.received
    );
    assert!(!socket.exists(), "admin socket left behind");

    // Logs: JSON lines with the standard fields; the secret never appears.
    std::thread::sleep(Duration::from_millis(100));
    let logs = stdout.lock().unwrap().clone();
    let errs = stderr.lock().unwrap().clone();
    assert!(
        !logs.contains(&secret) && !errs.contains(&secret),
        "secret logged"
    );
    let mut lines = 0;
    for line in logs.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        for field in ["timestamp", "level", "target"] {
            assert!(v.get(field).is_some(), "{field} missing: {line}");
        }
        lines += 1;
    }
    assert!(lines > 3);
    assert!(logs.contains("\"message\":\"ready\""), "{logs}");
    assert!(logs.contains("\"message\":\"stopped\""), "{logs}");
    horizon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let db = TestDb::new().await;
    let files = DaemonFiles::new();
    let (_, pw) = split_password(db.url());
    let config = files.write_config(
        db.url(),
        &pw.unwrap_or_default(),
        "http://127.0.0.1:9",
        &[],
        "",
    );
    let mut notify = NotifySocket::bind(files.path("notify.sock"));
    let mut child = orbitpay_command(&["serve", "--config", config.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &notify.path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        notify
            .wait_for(Duration::from_secs(60), |l| l == "READY=1")
            .is_some()
    );
    // Hold a request half-sent so the drain would take its grace period.
    let mut held = tokio::net::UnixStream::connect(files.path("admin.sock"))
        .await
        .unwrap();
    use tokio::io::AsyncWriteExt as _;
    held.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    signal(&child, "INT");
    assert!(
        notify
            .wait_for(Duration::from_secs(5), |l| l == "STOPPING=1")
            .is_some()
    );
    let asked = Instant::now();
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(3)).expect("exits at once");
    assert!(asked.elapsed() < Duration::from_secs(2));
    assert!(
        !status.success(),
        "a forced exit is not a clean one: {status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_database_migrated_by_a_newer_release() {
    use diesel_async::SimpleAsyncConnection as _;
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    conn.batch_execute(
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('29990101000000')",
    )
    .await
    .unwrap();
    let files = DaemonFiles::new();
    let (_, pw) = split_password(db.url());
    let config = files.write_config(
        db.url(),
        &pw.unwrap_or_default(),
        "http://127.0.0.1:9",
        &[],
        "",
    );
    let out = orbitpay_command(&["serve", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("newer"), "{err}");
    assert!(!files.path("admin.sock").exists());
}
