//! The daemon running in-process (its own `serve::run`), against the Horizon simulator and a
//! fresh database, watching one shop account; driven only through the admin socket and the
//! simulated ledger.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::time::Duration;

use orbitpay::config::{Config, WatchedAccount, now_token};
use orbitpay::serve::{self, ServeOptions};
use orbitpay_cli::Client;
use orbitpay_core::AccountId;
use orbitpay_horizon_sim::{HorizonSim, ServerHandle, SimConfig, derive_account};
use orbitpay_testkit::TestDb;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct Running {
    pub sim: HorizonSim,
    pub shop: AccountId,
    pub payer: AccountId,
    pub client: Client,
    pub admin_socket: PathBuf,
    horizon: ServerHandle,
    shutdown: CancellationToken,
    daemon: JoinHandle<anyhow::Result<()>>,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

/// Starts the daemon for `seed`'s shop, from the simulator's current ledger, with `tweak`
/// applied to the configuration.
pub async fn start(seed: u64, tweak: impl FnOnce(&mut Config)) -> Running {
    let db = TestDb::new().await;
    let sim = HorizonSim::new(SimConfig {
        seed,
        ..SimConfig::default()
    });
    let (shop, payer) = (derive_account(seed, 0), derive_account(seed, 1));
    sim.register_account(shop);
    sim.register_account(payer);
    let horizon = sim.serve("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    let mut config = Config::default();
    config.database.url = db.url().to_owned();
    config.database.pool_size = 4;
    config.horizon.url = horizon.base_url().to_owned();
    let mut account = WatchedAccount::new(shop.to_string());
    account.start_cursor = Some(now_token(sim.latest_ledger()).to_string());
    config.accounts = vec![account];
    config.admin.socket = dir.path().join("admin.sock");
    config.ingest.leader_retry = Duration::from_millis(200);
    tweak(&mut config);
    config.validate().unwrap();

    let shutdown = CancellationToken::new();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let options = ServeOptions {
        on_ready: Some(ready_tx),
        ..ServeOptions::embedded(shutdown.clone())
    };
    let daemon = tokio::spawn(serve::run(config, options));
    let ready = tokio::time::timeout(Duration::from_secs(30), ready_rx)
        .await
        .unwrap()
        .unwrap();
    Running {
        sim,
        shop,
        payer,
        client: Client::new(&ready.admin_socket).unwrap(),
        admin_socket: ready.admin_socket,
        horizon,
        shutdown,
        daemon,
        _db: db,
        _dir: dir,
    }
}

impl Running {
    /// The daemon's database, for rows a test writes through the store itself.
    pub fn db(&self) -> &TestDb {
        &self._db
    }

    /// `GET path`, which must answer 200 with JSON.
    pub async fn get(&self, path: &str) -> Value {
        let r = self.client.get(path).await.unwrap();
        assert_eq!(
            r.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json().unwrap()
    }

    /// A clean stop: the daemon returns `Ok` and removes its socket.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.daemon)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(
            !self.admin_socket.exists(),
            "the socket is removed on a clean stop"
        );
        self.horizon.shutdown().await;
    }
}
