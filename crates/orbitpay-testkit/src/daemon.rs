//! The real `orbitpay` binary as a child process: found beside the running test, spawned with a
//! config file and a clean environment, killed with SIGKILL when dropped. Shared by the daemon's
//! crash-point tests and the end-to-end suite.

use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// SIGABRT: how a crash point (`std::process::abort`) ends the process.
pub const SIGABRT: i32 = 6;

/// The `orbitpay` binary cargo built beside this test (`target/<profile>/orbitpay`).
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join("orbitpay");
    assert!(
        bin.exists(),
        "{} is missing: build it first (`cargo build -p orbitpay`; `cargo test --workspace` does)",
        bin.display()
    );
    bin
}

/// A running `orbitpay serve`; SIGKILLed and reaped on drop.
pub struct Daemon(Child);

impl Daemon {
    /// `orbitpay serve --config <config>`, stdout and stderr appended to `log`, with `env`
    /// (e.g. `FAILPOINTS`) on top of this process's environment less any `ORBITPAY_*`,
    /// `RUST_LOG`, `NOTIFY_SOCKET` or `FAILPOINTS` of its own.
    pub fn spawn(config: &Path, log: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new(binary());
        for (k, _) in std::env::vars() {
            if k.starts_with("ORBITPAY_")
                || k == "RUST_LOG"
                || k == "FAILPOINTS"
                || k.starts_with("NOTIFY_SOCKET")
            {
                cmd.env_remove(k);
            }
        }
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
        Daemon(child)
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Its exit status, if it has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().unwrap()
    }

    /// Waits up to `bound` for it to end on its own; `None` if it still runs.
    pub async fn wait_exit(&mut self, bound: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// kill -9, and reaps it.
    pub fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `status` is a death by SIGABRT (a crash point), not an exit or another signal.
pub fn aborted(status: ExitStatus) -> bool {
    status.signal() == Some(SIGABRT)
}
