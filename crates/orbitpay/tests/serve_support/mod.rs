//! Shared helpers of the daemon tests: config files, the orbitpay binary, a NOTIFY_SOCKET, and
//! raw HTTP over the admin socket.
#![allow(dead_code)]

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The test database's URL split as the daemon wants it: no password in the URL.
pub fn split_password(url: &str) -> (String, Option<String>) {
    let mut u = url::Url::parse(url).unwrap();
    let pw = u.password().map(str::to_owned);
    let _ = u.set_password(None);
    (u.to_string(), pw)
}

pub struct DaemonFiles {
    pub dir: tempfile::TempDir,
}

impl DaemonFiles {
    pub fn new() -> DaemonFiles {
        DaemonFiles {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `orbitpay.toml`: the database (password via password_file), Horizon, a socket
    /// in the temp dir, short timings, then `extra` TOML appended (sections only).
    pub fn write_config(
        &self,
        database_url: &str,
        password: &str,
        horizon_url: &str,
        accounts: &[String],
        extra: &str,
    ) -> PathBuf {
        let (url, _) = split_password(database_url);
        let pw_file = self.path("db-password");
        std::fs::write(&pw_file, format!("{password}\n")).unwrap();
        let accounts: Vec<String> = accounts
            .iter()
            .map(|a| format!("{{ address = \"{a}\" }}"))
            .collect();
        let toml = format!(
            "accounts = [{accounts}]\n\n\
             [database]\nurl = \"{url}\"\npassword_file = \"{pw}\"\npool_size = 4\n\n\
             [horizon]\nurl = \"{horizon_url}\"\n\n\
             [admin]\nsocket = \"{sock}\"\n\n\
             [ingest]\nleader_retry = \"200ms\"\nshutdown_grace = \"5s\"\n\n\
             {extra}\n",
            accounts = accounts.join(", "),
            pw = pw_file.display(),
            sock = self.path("admin.sock").display(),
        );
        let path = self.path("orbitpay.toml");
        std::fs::write(&path, toml).unwrap();
        path
    }
}

/// `orbitpay <args>` with a clean ORBITPAY_* environment, stdout/stderr piped.
pub fn orbitpay_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orbitpay"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ORBITPAY_")
            || k == "CREDENTIALS_DIRECTORY"
            || k == "RUST_LOG"
            || k.starts_with("NOTIFY_SOCKET")
            || k.starts_with("WATCHDOG_")
        {
            cmd.env_remove(k);
        }
    }
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// A NOTIFY_SOCKET the test listens on.
pub struct NotifySocket {
    pub path: PathBuf,
    socket: UnixDatagram,
    pub received: Vec<String>,
}

impl NotifySocket {
    pub fn bind(path: PathBuf) -> NotifySocket {
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        NotifySocket {
            path,
            socket,
            received: Vec::new(),
        }
    }

    /// Reads datagrams (each may hold several lines) until one line satisfies `pred`.
    pub fn wait_for(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match self.socket.recv(&mut buf) {
                Ok(n) => {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    for line in text.lines() {
                        self.received.push(line.to_owned());
                        if pred(line) {
                            return Some(line.to_owned());
                        }
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("notify socket: {e}"),
            }
        }
        None
    }

    /// Everything received within `window`.
    pub fn collect(&mut self, window: Duration) -> Vec<String> {
        let start = self.received.len();
        let _ = self.wait_for(window, |_| false);
        self.received[start..].to_vec()
    }
}

/// A raw HTTP/1.1 request over a Unix socket: (status, body).
pub async fn http(socket: &Path, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: orbitpay\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, dechunk(&body))
}

/// Undoes `Transfer-Encoding: chunked` when the body looks chunked.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size, after)) = rest.split_once("\r\n") else {
            return body.to_owned();
        };
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            return body.to_owned();
        };
        if n == 0 {
            return out;
        }
        if after.len() < n {
            return body.to_owned();
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
}

/// Waits for `child` to exit, up to `timeout`.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

pub fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits until `cond` holds, polling.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn get_json(socket: &std::path::Path, path: &str) -> Value {
    let (status, body) = http(socket, "GET", path, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

pub async fn create_session(socket: &std::path::Path, amount: &str) -> Value {
    let body = format!(r#"{{"amount":"{amount}","asset":"native"}}"#);
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();

    let request = format!(
        "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nIdempotency-Key: {}\r\nContent-Length: {}\r\n\r\n{body}",
        uuid::Uuid::new_v4(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let json = response.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(json).unwrap()
}

pub fn memo_id(session: &Value) -> u64 {
    session["payment_instructions"]["memo"]["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

pub async fn wait_paid(socket: &std::path::Path, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let s = get_json(socket, &format!("/v1/sessions/{id}")).await;
        if s["status"] == "paid" {
            return s;
        }
        assert!(Instant::now() < deadline, "session {id} not paid: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
