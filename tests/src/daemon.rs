//! The real `orbitpay` binary as a child process: found beside the test executable, started
//! with a config file, waited for on its admin socket, and killed as an operator (or the
//! kernel) would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use orbitpay_cli::Client;

/// The `orbitpay` binary cargo built beside this test (`target/<profile>/orbitpay`).
pub fn orbitpay_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join("orbitpay");
    assert!(
        bin.exists(),
        "{} is missing: build it first (`cargo build -p orbitpay --features failpoints`; \
         `cargo test --workspace` does)",
        bin.display()
    );
    bin
}

/// A running daemon; killed (SIGKILL) and reaped when dropped.
pub struct Daemon {
    child: Child,
}

impl Daemon {
    /// `orbitpay serve --config <config>`, stdout and stderr appended to `log`, with none of
    /// this process's `ORBITPAY_*`, `RUST_LOG` or `NOTIFY_SOCKET` (only `env` is added).
    pub fn spawn(config: &Path, log: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new(orbitpay_binary());
        for (k, _) in std::env::vars() {
            if k.starts_with("ORBITPAY_") || k == "RUST_LOG" || k.starts_with("NOTIFY_SOCKET") {
                cmd.env_remove(k);
            }
        }
        cmd.env_remove("FAILPOINTS");
        cmd.envs(env.iter().copied());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = cmd
            .args(["serve", "--config", config.to_str().unwrap()])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        Daemon { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL and reap: no destructor, no shutdown, whatever was in flight is cut.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The exit status, if the process has ended.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the daemon on `socket` answers `/readyz` with 200.
pub async fn ready(socket: &Path) -> Client {
    ready_within(socket, Duration::from_secs(30)).await
}

pub async fn ready_within(socket: &Path, bound: Duration) -> Client {
    let deadline = Instant::now() + bound;
    loop {
        if let Ok(client) = Client::new(socket)
            && let Ok(r) = client.get("/readyz").await
            && r.status == 200
        {
            return client;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon on {} did not become ready within {bound:?}",
            socket.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
