//! One fault test's world: a database, the simulator (in-process, so the test holds the
//! ledger) serving Horizon, a webhook receiver whose answers the test switches, daemon
//! configs with short timings, the seed and the replay command, and the settle-then-check
//! step every fault test ends with.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orbitpay_core::{AccountId, toid};
use orbitpay_horizon_sim::{HorizonSim, ServerHandle, SimConfig, derive_account};
use orbitpay_testkit::TestDb;
use orbitpay_testkit::receiver::Receiver;

use crate::admin::Admin;
use crate::checker::{self, Expected, Mode, Report};
use crate::sql::Sql;
use crate::workload::{Record, Workload};
use orbitpay_testkit::daemon::Daemon;
use tokio::task::JoinHandle;

use crate::daemon::ready;

/// A fixed signing secret: a replay must not depend on anything but the seed.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=";

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Hook {
    Ok = 0,
    /// 500 to everything.
    Fail = 1,
    /// Answers only after the daemon's request timeout.
    Hang = 2,
}

/// The seed (`ORBITPAY_FAULT_SEED`, else random) and the kill count (`ORBITPAY_FAULT_KILLS`,
/// else the test's CI default) of one fault test, and the command that replays it.
#[derive(Debug, Clone)]
pub struct Run {
    pub binary: &'static str,
    pub test: &'static str,
    pub seed: u64,
    pub kills: usize,
}

impl Run {
    pub fn new(binary: &'static str, test: &'static str, default_kills: usize) -> Run {
        let seed = match std::env::var("ORBITPAY_FAULT_SEED") {
            Ok(v) => v.parse().expect("ORBITPAY_FAULT_SEED is a u64"),
            Err(_) => rand::random(),
        };
        let kills = match std::env::var("ORBITPAY_FAULT_KILLS") {
            Ok(v) => v.parse().expect("ORBITPAY_FAULT_KILLS is a count"),
            Err(_) => default_kills,
        };
        let run = Run {
            binary,
            test,
            seed,
            kills,
        };
        eprintln!(
            "{test}: seed {seed}, {kills} faults; replay: {}",
            run.replay()
        );
        run
    }

    pub fn replay(&self) -> String {
        format!(
            "ORBITPAY_FAULT_SEED={} ORBITPAY_FAULT_KILLS={} cargo test -p orbitpay-e2e --locked \
             --test {} -- --exact {} --nocapture",
            self.seed, self.kills, self.binary, self.test
        )
    }
}

pub struct World {
    pub run: Run,
    pub sim: HorizonSim,
    pub horizon: ServerHandle,
    pub shop: AccountId,
    pub payer: AccountId,
    pub receiver: Receiver,
    /// Requests whose signature did not verify when they arrived.
    pub unsigned: Arc<Mutex<Vec<String>>>,
    hook: Arc<AtomicU8>,
    pub dir: tempfile::TempDir,
    pub db_url: String,
    _db: Option<TestDb>,
    start_ledger: u32,
}

impl World {
    /// On a fresh database of the shared test server.
    pub async fn new(run: Run) -> World {
        let db = TestDb::new().await;
        let url = db.url().to_owned();
        Self::on(run, url, Some(db)).await
    }

    /// On a database the caller owns (a private cluster's), which the daemon migrates.
    pub async fn on_database(run: Run, url: String) -> World {
        Self::on(run, url, None).await
    }

    async fn on(run: Run, db_url: String, db: Option<TestDb>) -> World {
        let sim = HorizonSim::new(SimConfig {
            seed: run.seed,
            ..SimConfig::default()
        });
        let (shop, payer) = (derive_account(run.seed, 0), derive_account(run.seed, 1));
        for a in Workload::new(run.seed, shop, payer).accounts() {
            sim.register_account(a);
        }
        let horizon = sim.serve("127.0.0.1:0").await.unwrap();
        let hook = Arc::new(AtomicU8::new(Hook::Ok as u8));
        let mode = hook.clone();
        let unsigned: Arc<Mutex<Vec<String>>> = Arc::default();
        let bad = unsigned.clone();
        let receiver = Receiver::start(move |m| {
            // Verified on arrival: the reference library also refuses a timestamp more than
            // five minutes from now, which a check at the end of a long run would be.
            if let Err(e) = m.verify(SECRET) {
                bad.lock().unwrap().push(format!("webhook {}: {e}", m.id()));
            }
            match mode.load(Ordering::Relaxed) {
                0 => (200, Duration::ZERO),
                1 => (500, Duration::ZERO),
                _ => (200, Duration::from_secs(3)),
            }
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        {
            use std::os::unix::fs::PermissionsExt as _;
            // A private cluster under it runs as `postgres` when we are root.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(dir.path().join("webhook-secret"), SECRET).unwrap();
        let start_ledger = sim.latest_ledger();
        World {
            run,
            sim,
            horizon,
            shop,
            payer,
            receiver,
            unsigned,
            hook,
            dir,
            db_url,
            _db: db,
            start_ledger,
        }
    }

    pub fn workload(&self) -> Workload {
        Workload::new(self.run.seed, self.shop, self.payer)
    }

    pub fn hook(&self, mode: Hook) {
        self.hook.store(mode as u8, Ordering::Relaxed);
    }

    pub fn socket(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.sock"))
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    /// Writes `<name>.toml`: the shop from the world's first ledger, short timings (recovery
    /// after 3 s, every second; a 1 s confirm wait; 2 s webhook timeout), then `overrides`
    /// (`section`, `key`, TOML value) on top.
    pub fn config(&self, name: &str, overrides: &[(&str, &str, &str)]) -> PathBuf {
        let q = |v: &str| format!("\"{v}\"");
        let mut t: BTreeMap<&str, BTreeMap<&str, String>> = BTreeMap::new();
        let mut set = |sec: &'static str, key: &'static str, v: String| {
            t.entry(sec).or_default().insert(key, v);
        };
        set("database", "url", q(&self.db_url));
        set("database", "pool_size", "4".into());
        set("database", "connect_timeout", q("2s"));
        set("horizon", "url", q(self.horizon.base_url()));
        set("horizon", "stall_timeout", q("3s"));
        set("horizon", "request_timeout", q("2s"));
        set("horizon", "max_backoff", q("1s"));
        set(
            "admin",
            "socket",
            q(&self.socket(name).display().to_string()),
        );
        set("admin", "confirm_wait", q("1s"));
        set("ingest", "leader_retry", q("200ms"));
        set("ingest", "shutdown_grace", q("2s"));
        set("jobs", "recovery", q("* * * * * *"));
        set("jobs", "recovery_after", q("3s"));
        set("webhooks", "url", q(&self.receiver.url));
        set(
            "webhooks",
            "secret_file",
            q(&self.dir.path().join("webhook-secret").display().to_string()),
        );
        set("webhooks", "allow_private", "true".into());
        set("webhooks", "timeout", q("2s"));
        set("webhooks", "poll_interval", q("100ms"));
        set("log", "format", q("json"));
        set("log", "level", q("info"));
        for (sec, key, v) in overrides {
            t.entry(sec).or_default().insert(key, (*v).to_owned());
        }
        let mut text = format!(
            "accounts = [{{ address = \"{}\", start_cursor = \"{}\" }}]\n",
            self.shop,
            toid::encode(self.start_ledger, 0xF_FFFF, 0xFFF)
        );
        for (sec, keys) in &t {
            text.push_str(&format!("\n[{sec}]\n"));
            for (k, v) in keys {
                text.push_str(&format!("{k} = {v}\n"));
            }
        }
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Waits until a daemon has registered the receiver as the default endpoint. The daemon
    /// does so before its admin socket serves (an event committed earlier would get no
    /// delivery: docs/reliability.md, defect 2), so after `ready` this returns at once; it
    /// stays so that a regression fails here, not as a missing webhook far later.
    pub async fn default_endpoint_registered(&self) {
        let db = self.sql().await;
        let sql = format!(
            "SELECT count(*) FROM webhook_endpoints WHERE is_default AND url = '{}'",
            self.receiver.url
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while db.scalar(&sql).await != Some(1) {
            assert!(
                Instant::now() < deadline,
                "the default endpoint is never registered"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts instance `name` from its config (written by [`World::config`]).
    pub fn spawn(&self, name: &str, env: &[(&str, &str)]) -> Daemon {
        let _ = std::fs::remove_file(self.socket(name));
        Daemon::spawn(
            &self.dir.path().join(format!("{name}.toml")),
            &self.log(name),
            env,
        )
    }

    /// [`World::spawn`] without extra environment, then waits until it is ready and the
    /// default endpoint is registered: how every fault test brings an instance up first.
    pub async fn start(&self, name: &str) -> Daemon {
        let daemon = self.spawn(name, &[]);
        ready(&self.socket(name)).await;
        self.default_endpoint_registered().await;
        daemon
    }

    /// Steps `workload` in the background through the admin sockets of `names`, pausing
    /// `pause` between steps, until [`Driver::stop`] hands it back.
    pub fn drive(&self, mut workload: Workload, names: &[&str], pause: Duration) -> Driver {
        let (sim, admin) = (self.sim.clone(), self.admin(names));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let stop = stop.clone();
            async move {
                while !stop.load(Ordering::Relaxed) {
                    workload.step(&sim, &admin).await;
                    tokio::time::sleep(pause).await;
                }
                workload
            }
        });
        Driver { stop, task }
    }

    pub fn admin(&self, names: &[&str]) -> Admin {
        Admin::new(
            names.iter().map(|n| self.socket(n)).collect(),
            Duration::from_secs(8),
        )
    }

    pub async fn sql(&self) -> Sql {
        Sql::connect(&self.db_url).await
    }

    /// The invariants that hold at every instant (the daemon dead, or anything in flight),
    /// against the record `record` (a snapshot of a running workload's).
    pub async fn check_crashed(&self, record: &Record) -> Report {
        self.check_record(record, Mode::Crashed).await
    }

    pub async fn check(&self, workload: &Workload, mode: Mode) -> Report {
        self.check_record(&workload.record, mode).await
    }

    async fn check_record(&self, record: &Record, mode: Mode) -> Report {
        // Receiver first: an event it saw had committed before it was sent, so the database
        // read after it holds every one.
        let received = self.receiver.received();
        let db = self.sql().await;
        let exp = Expected {
            record,
            account: self.shop.to_string(),
            latest_ledger: self.sim.latest_ledger(),
            receiver_url: &self.receiver.url,
            received,
            unsigned: self.unsigned.lock().unwrap().clone(),
        };
        checker::check(&db, &exp, mode).await
    }

    /// Faults healed by the caller: closes a marker payment, waits until the stream has handled
    /// it, no session is processing and no delivery is open, then checks every invariant. The
    /// wait gives up after `bound` without progress (open deliveries and claims not going
    /// down), so a large backlog may take longer; the checker then says what is wrong.
    pub async fn settle_and_check(&self, workload: &mut Workload, bound: Duration) -> Report {
        let marker = workload.close_marker(&self.sim);
        let db = self.sql().await;
        let deadline = Instant::now() + bound;
        let shop = self.shop.to_string();
        let settled = format!(
            "SELECT ((SELECT paging_token FROM stream_cursors WHERE account = '{shop}') >= {marker}
                 AND NOT EXISTS (SELECT 1 FROM sessions WHERE status = 'processing')
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries
                                  WHERE state IN ('pending', 'delivering')))::int"
        );
        let open = "SELECT (SELECT count(*) FROM webhook_deliveries
                             WHERE state IN ('pending', 'delivering'))
                          + (SELECT count(*) FROM sessions WHERE status = 'processing')";
        let started = Instant::now();
        let mut deadline = deadline;
        let mut least = i64::MAX;
        while db.scalar(&settled).await != Some(1) && Instant::now() < deadline {
            let left = db.scalar(open).await.unwrap_or(0);
            if left < least {
                least = left;
                deadline = Instant::now() + bound;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        eprintln!("settled in {:?}", started.elapsed());
        self.check(workload, Mode::Settled).await
    }

    /// Panics with every violation, the seed and the replay command, unless there are none;
    /// prints the figures either way.
    pub fn assert_clean(&self, report: &Report, kills: usize) {
        eprintln!(
            "{}: seed {}, {kills} faults survived; checked {} credits, {} sessions, {} payments, \
             {} events ({} webhooks received); {} violations",
            self.run.test,
            self.run.seed,
            report.credits,
            report.sessions,
            report.payments,
            report.events,
            report.webhooks_received,
            report.violations.len()
        );
        if !report.violations.is_empty() {
            let list: Vec<String> = report.violations.iter().map(|v| v.to_string()).collect();
            panic!(
                "{} invariant violations (seed {}):\n  {}\nlogs: {}\nreplay: {}",
                list.len(),
                self.run.seed,
                list.join("\n  "),
                self.dir.path().display(),
                self.run.replay()
            );
        }
    }
}

/// A workload running in the background ([`World::drive`]).
pub struct Driver {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Workload>,
}

impl Driver {
    /// Lets the step in progress finish and returns the workload with its record.
    pub async fn stop(self) -> Workload {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}
