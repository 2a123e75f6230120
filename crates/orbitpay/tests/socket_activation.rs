//! Socket activation: started by `systemd-socket-activate` (what `orbitpay.socket` does under
//! systemd), the daemon serves the socket handed to it through `LISTEN_FDS` and never binds
//! its configured path, so the hardened unit needs no `chown`.

mod serve_support;

use std::time::Duration;

use orbitpay_horizon_sim::{HorizonSim, derive_account};
use orbitpay_testkit::TestDb;
use serve_support::*;

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_serves_the_socket_systemd_hands_it() {
    let activate = std::process::Command::new("systemd-socket-activate")
        .arg("--version")
        .output();
    assert!(
        activate.is_ok_and(|o| o.status.success()),
        "systemd-socket-activate (Debian package systemd) is needed for this test"
    );
    let db = TestDb::new().await;
    let sim = HorizonSim::with_seed(71);
    let shop = derive_account(71, 0);
    sim.register_account(shop);
    let horizon = sim.serve("127.0.0.1:0").await.unwrap();
    let files = DaemonFiles::new();
    let (_, pw) = split_password(db.url());
    // The configured path stays unused: the activated socket wins.
    let config = files.write_config(
        db.url(),
        &pw.unwrap_or_default(),
        horizon.base_url(),
        &[shop.to_string()],
        "[log]\nformat = \"json\"\nlevel = \"info\"\n",
    );
    let activated = files.path("activated.sock");
    let notify = NotifySocket::bind(files.path("notify.sock"));
    let mut cmd = std::process::Command::new("systemd-socket-activate");
    cmd.arg("--listen")
        .arg(&activated)
        .arg(format!("--setenv=NOTIFY_SOCKET={}", notify.path.display()))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_orbitpay"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let _daemon = Killed(cmd.spawn().unwrap());

    // systemd-socket-activate listens at once and starts the daemon on the first connection,
    // which waits in the backlog until the daemon accepts it.
    let mut answer = None;
    for _ in 0..100 {
        if activated.exists() {
            answer = Some(
                tokio::time::timeout(
                    Duration::from_secs(60),
                    http(&activated, "GET", "/healthz", None),
                )
                .await
                .expect("no answer on the activated socket"),
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = answer.expect("systemd-socket-activate never listened");
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(&activated, "GET", "/v1/status", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !files.path("admin.sock").exists(),
        "the daemon bound its configured socket as well"
    );
}
