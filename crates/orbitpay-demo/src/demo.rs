//! The demo: the whole mission in one command, on a fresh machine, exiting 0.
//!
//! 1. A scratch database: on `DATABASE_URL`'s server if set, else on the local server
//!    (`postgres://postgres@127.0.0.1:5432/postgres`), as a fresh `orbitpay_demo_<random>`
//!    database dropped at the end; else in a throwaway cluster started from the machine's
//!    PostgreSQL binaries (orbitpay-testkit's cluster code) and stopped at the end.
//! 2. The Horizon simulator, in-process, on a loopback port.
//! 3. The daemon, through the same `serve::run` as `orbitpay serve`, with a temporary admin
//!    socket.
//! 4. Over the admin socket: a session is created and paid on the simulated ledger (pending ->
//!    processing -> paid); an underpayment is topped up; a duplicate payment is recorded as
//!    unmatched (`already_paid`) rather than credited.
//! 5. Everything is stopped and removed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, SimpleAsyncConnection as _};
use orbitpay_cli::Client;
use orbitpay_core::Asset;
use orbitpay_horizon_sim::{HorizonSim, Op, SimConfig, Tx, derive_account, stroops};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use orbitpay::config::{Config, LogConfig, LogFormat, Secret, WatchedAccount, now_token};
use orbitpay::serve::{self, ServeOptions};

const LOCAL_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Bound on each wait for the daemon to settle something.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// `orbitpay demo`, printing to stdout.
pub async fn run() -> anyhow::Result<()> {
    let log = LogConfig {
        format: LogFormat::Pretty,
        level: "error".into(),
    };
    orbitpay::telemetry::init(&log)?;
    let mut out = std::io::stdout();
    run_with(&mut out).await
}

/// The demo, printing its story to `out`.
pub async fn run_with(out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let scratch = tempfile::Builder::new()
        .prefix("orbitpay-demo-")
        .tempdir()
        .context("creating a scratch directory")?;
    writeln!(out, "orbitpay demo")?;
    let db = DemoDatabase::provision(scratch.path()).await?;
    writeln!(out, "  database: {}", db.description)?;
    let result = tokio::select! {
        r = run_daemon_and_steps(&db, scratch.path(), out) => r,
        // Ctrl-C: dropping the steps future stops the daemon task's driver; clean up anyway.
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    db.cleanup().await;
    match &result {
        Ok(()) => writeln!(out, "\ndone: everything the demo created has been removed.")?,
        Err(_) => writeln!(out, "\nthe demo failed; its database was removed.")?,
    }
    result
}

async fn run_daemon_and_steps(
    db: &DemoDatabase,
    dir: &Path,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    // A random seed: fresh accounts each run, so a reused database never sees a stored cursor
    // from another simulated network.
    let seed = rand::random::<u64>() >> 1;
    let sim = HorizonSim::new(SimConfig {
        seed,
        ..SimConfig::default()
    });
    let shop = derive_account(seed, 0);
    let payer = derive_account(seed, 1);
    sim.register_account(shop);
    sim.register_account(payer);
    let horizon = sim
        .serve("127.0.0.1:0")
        .await
        .context("starting the Horizon simulator")?;
    writeln!(out, "  horizon simulator: {}", horizon.base_url())?;
    writeln!(out, "  merchant account: {shop}")?;

    let (url, password) = split_password(&db.url)?;
    let mut config = Config::default();
    config.database.url = url;
    config.database.password = Secret::new(password.unwrap_or_default());
    config.database.pool_size = 4;
    config.horizon.url = horizon.base_url().to_owned();
    // Start right after the current ledger, whatever the follower's timing.
    let mut account = WatchedAccount::new(shop.to_string());
    account.start_cursor = Some(now_token(sim.latest_ledger()).to_string());
    config.accounts = vec![account];
    config.admin.socket = dir.join("admin.sock");
    config.ingest.leader_retry = Duration::from_millis(200);
    config.ingest.shutdown_grace = Duration::from_secs(5);
    config.metrics.refresh_interval = Duration::from_secs(2);
    config.validate()?;

    let shutdown = CancellationToken::new();
    let (ready_tx, ready_rx) = oneshot::channel();
    let options = ServeOptions {
        on_ready: Some(ready_tx),
        ..ServeOptions::embedded(shutdown.clone())
    };
    let mut daemon = tokio::spawn(serve::run(config, options));
    let steps = async {
        let ready = tokio::time::timeout(Duration::from_secs(60), ready_rx)
            .await
            .context("the daemon did not become ready in 60 s")?
            .context("the daemon stopped before it was ready")?;
        writeln!(
            out,
            "  daemon ready; admin socket {}",
            ready.admin_socket.display()
        )?;
        let demo = Demo {
            client: Client::new(&ready.admin_socket)?,
            sim: &sim,
            payer,
        };
        demo.steps(out).await
    };
    // The daemon ending on its own (a startup error) ends the demo too.
    let (result, stopped) = tokio::select! {
        r = steps => (r, None),
        ended = &mut daemon => (Err(anyhow::anyhow!("the daemon stopped")), Some(ended)),
    };
    shutdown.cancel();
    let stopped = match stopped {
        Some(ended) => Ok(ended),
        None => tokio::time::timeout(Duration::from_secs(15), daemon).await,
    };
    horizon.shutdown().await;
    match stopped {
        Ok(Ok(Ok(()))) => result,
        Ok(Ok(Err(e))) => Err(e.context("the daemon failed")),
        Ok(Err(e)) => Err(anyhow::Error::new(e).context("the daemon panicked")),
        Err(_) => result.and(Err(anyhow::anyhow!("the daemon did not stop in time"))),
    }
}

struct Demo<'a> {
    client: Client,
    sim: &'a HorizonSim,
    payer: orbitpay_core::AccountId,
}

impl Demo<'_> {
    async fn steps(&self, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
        writeln!(out, "\n1. A session for 12.5 XLM, paid in full")?;
        let a = self.create("12.5", "demo-order-1").await?;
        let a_id = str_field(&a, "id")?;
        writeln!(out, "   created session {a_id}")?;
        writeln!(
            out,
            "   pay: {}",
            a["payment_instructions"]["pay_uri"].as_str().unwrap_or("?")
        )?;
        let hash = self.pay(&a, 125_000_000)?;
        writeln!(out, "   the customer pays 12.5 XLM (tx {})", short(&hash))?;
        let a = self.wait_session(&a_id, |s| s["status"] == "paid").await?;
        writeln!(out, "   status: {}", self.transitions(&a_id).await?)?;
        writeln!(out, "   received {} XLM", xlm(&a["amount_received"]))?;

        writeln!(out, "\n2. An underpayment, topped up")?;
        let b = self.create("10", "demo-order-2").await?;
        let b_id = str_field(&b, "id")?;
        writeln!(out, "   created session {b_id} for 10 XLM")?;
        let hash = self.pay(&b, 40_000_000)?;
        writeln!(out, "   the customer pays 4 XLM (tx {})", short(&hash))?;
        let b_now = self
            .wait_session(&b_id, |s| {
                xlm(&s["amount_received"]) == "4" && s["status"] == "pending"
            })
            .await?;
        writeln!(
            out,
            "   status: {} ({} of 10 XLM received)",
            self.transitions(&b_id).await?,
            xlm(&b_now["amount_received"])
        )?;
        let hash = self.pay(&b, 60_000_000)?;
        writeln!(out, "   the customer tops up 6 XLM (tx {})", short(&hash))?;
        let b_now = self.wait_session(&b_id, |s| s["status"] == "paid").await?;
        writeln!(out, "   status: {}", self.transitions(&b_id).await?)?;
        writeln!(out, "   received {} XLM", xlm(&b_now["amount_received"]))?;

        writeln!(out, "\n3. A duplicate payment to the paid session")?;
        let hash = self.pay(&a, 125_000_000)?;
        writeln!(
            out,
            "   the customer pays 12.5 XLM again (tx {})",
            short(&hash)
        )?;
        let unmatched = self.wait_unmatched(&hash).await?;
        let a = self.session(&a_id).await?;
        writeln!(
            out,
            "   recorded as unmatched ({}), not credited: session {} still received {} XLM",
            unmatched["reason"].as_str().unwrap_or("?"),
            a["status"].as_str().unwrap_or("?"),
            xlm(&a["amount_received"])
        )?;
        if xlm(&a["amount_received"]) != "12.5" {
            bail!("the duplicate payment was credited: {a}");
        }
        Ok(())
    }

    async fn create(&self, amount: &str, order_id: &str) -> anyhow::Result<Value> {
        let key = uuid::Uuid::new_v4().to_string();
        let response = self
            .client
            .post_json(
                "/v1/sessions",
                &[("Idempotency-Key", key.as_str())],
                &json!({ "amount": amount, "asset": "native", "order_id": order_id }),
            )
            .await?;
        api_json(response, "creating a session")
    }

    async fn session(&self, id: &str) -> anyhow::Result<Value> {
        api_json(
            self.client.get(&format!("/v1/sessions/{id}")).await?,
            "reading a session",
        )
    }

    /// Closes a ledger with a payment of `stroops` to the session's destination and memo.
    fn pay(&self, session: &Value, amount: i64) -> anyhow::Result<String> {
        let instructions = &session["payment_instructions"];
        let destination = str_field(instructions, "destination")?;
        let memo = &instructions["memo"];
        let mut tx = Tx::new(self.payer);
        match memo["type"].as_str() {
            Some("id") => {
                tx = tx.memo_id(
                    str_field(memo, "value")?
                        .parse()
                        .context("memo id is not a u64")?,
                );
            }
            Some("text") => tx = tx.memo_text(str_field(memo, "value")?.into_bytes()),
            Some("none") | None => {}
            Some(other) => bail!("the demo cannot pay with a {other} memo"),
        }
        let destination: orbitpay_core::Address = destination
            .parse()
            .map_err(|e| anyhow::anyhow!("destination {destination}: {e}"))?;
        let closed = self.sim.close_ledger(vec![tx.op(Op::payment(
            self.payer,
            destination,
            Asset::Native,
            stroops(amount),
        ))]);
        Ok(closed
            .txs
            .first()
            .map(|t| t.hash.clone())
            .unwrap_or_default())
    }

    async fn wait_session(&self, id: &str, done: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let s = self.session(id).await?;
            if done(&s) {
                return Ok(s);
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "session {id} did not reach the expected state in {STEP_TIMEOUT:?} \
                     (status {}, received {})",
                    s["status"],
                    xlm(&s["amount_received"])
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_unmatched(&self, tx_hash: &str) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let page = api_json(
                self.client.get("/v1/payments/unmatched?limit=100").await?,
                "listing unmatched payments",
            )?;
            if let Some(found) = page["data"]
                .as_array()
                .and_then(|rows| rows.iter().find(|r| r["tx_hash"] == tx_hash))
            {
                return Ok(found.clone());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("payment {tx_hash} was not recorded as unmatched in {STEP_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The session's path through its states, from the outbox event feed.
    async fn transitions(&self, id: &str) -> anyhow::Result<String> {
        let page = api_json(
            self.client.get("/v1/events?limit=500").await?,
            "reading the event feed",
        )?;
        let states: Vec<&str> = page["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["session_id"] == id)
            .filter_map(|e| match e["type"].as_str()? {
                "session.created" => Some("pending"),
                "session.processing" => Some("processing"),
                "session.partially_paid" | "session.released" => Some("pending"),
                "session.paid" => Some("paid"),
                "session.expired" => Some("expired"),
                "session.cancelled" => Some("cancelled"),
                _ => None,
            })
            .collect();
        Ok(states.join(" -> "))
    }
}

fn api_json(response: orbitpay_cli::ApiResponse, what: &str) -> anyhow::Result<Value> {
    if !response.is_success() {
        bail!(
            "{what}: HTTP {} {}: {}",
            response.status,
            response.error_code().unwrap_or_default(),
            response.error_message().unwrap_or_default()
        );
    }
    response
        .json()
        .with_context(|| format!("{what}: the answer is not JSON"))
}

fn str_field(v: &Value, key: &str) -> anyhow::Result<String> {
    v[key]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("`{key}` missing in {v}"))
}

/// "12.5000000" -> "12.5".
fn xlm(amount: &Value) -> String {
    let text = amount.as_str().unwrap_or("?");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text.to_owned()
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

fn split_password(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let mut u = url::Url::parse(url).context("database URL")?;
    let password = u.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    });
    let _ = u.set_password(None);
    Ok((u.to_string(), password))
}

/// Where the demo's data lives and how to remove it.
struct DemoDatabase {
    /// Full URL (with any password).
    url: String,
    description: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Drop { admin_url: String, name: String },
    StopCluster { data: PathBuf },
}

impl DemoDatabase {
    async fn provision(dir: &Path) -> anyhow::Result<DemoDatabase> {
        let name = format!("orbitpay_demo_{}", uuid::Uuid::new_v4().simple());
        if let Ok(server) = std::env::var("DATABASE_URL") {
            // Never the database itself: it may hold real sessions, and demo events in its
            // outbox would reach real webhooks.
            let url = create_database(&server, &name).await.with_context(|| {
                format!("cannot create a scratch database {name} on DATABASE_URL's server (the demo never writes into DATABASE_URL's own database)")
            })?;
            return Ok(DemoDatabase {
                url,
                description: format!("{name} (fresh, on DATABASE_URL's server)"),
                cleanup: Cleanup::Drop {
                    admin_url: server,
                    name,
                },
            });
        }
        // ORBITPAY_DEMO_PG=throwaway skips the local server (to exercise the cluster path).
        let local = match std::env::var("ORBITPAY_DEMO_PG").as_deref() {
            Ok("throwaway") => Err(anyhow::anyhow!("ORBITPAY_DEMO_PG=throwaway")),
            _ => create_database(LOCAL_SERVER, &name).await,
        };
        match local {
            Ok(url) => {
                return Ok(DemoDatabase {
                    url,
                    description: format!("{name} (fresh, on the local server)"),
                    cleanup: Cleanup::Drop {
                        admin_url: LOCAL_SERVER.into(),
                        name,
                    },
                });
            }
            Err(e) => tracing::info!(
                error = format!("{e:#}"),
                "no local PostgreSQL server; starting a throwaway cluster"
            ),
        }
        let cluster_dir = dir.join("pg");
        // The cluster runs as `postgres` when we are root: let it through the scratch dir.
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        }
        let cluster = tokio::task::spawn_blocking(move || {
            orbitpay_testkit::Cluster::at(cluster_dir).ensure_running()
        })
        .await?
        .context("starting a throwaway PostgreSQL cluster (is PostgreSQL installed?)")?;
        Ok(DemoDatabase {
            url: cluster.url(),
            description: format!("a throwaway cluster in {}", cluster.dir().display()),
            cleanup: Cleanup::StopCluster {
                data: cluster.dir().join("data"),
            },
        })
    }

    async fn cleanup(&self) {
        match &self.cleanup {
            Cleanup::Drop { admin_url, name } => {
                let dropped = async {
                    let mut admin = AsyncPgConnection::establish(admin_url).await?;
                    admin
                        .batch_execute(&format!(
                            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                            quote_ident(name)
                        ))
                        .await?;
                    anyhow::Ok(())
                };
                if let Err(e) = dropped.await {
                    tracing::warn!(error = format!("{e:#}"), database = %name, "could not drop the demo database");
                }
            }
            Cleanup::StopCluster { data } => {
                let data = data.clone();
                let stopped = tokio::task::spawn_blocking(move || stop_cluster(&data)).await;
                if !matches!(stopped, Ok(Ok(()))) {
                    tracing::warn!("could not stop the throwaway PostgreSQL cluster");
                }
            }
        }
    }
}

/// Creates `name` on `server` (a maintenance-database URL); returns its URL.
async fn create_database(server: &str, name: &str) -> anyhow::Result<String> {
    let mut admin =
        tokio::time::timeout(Duration::from_secs(5), AsyncPgConnection::establish(server))
            .await
            .context("connecting timed out")??;
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE template0",
            quote_ident(name)
        ))
        .await?;
    let mut url = url::Url::parse(server)?;
    url.set_path(&format!("/{name}"));
    Ok(url.into())
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `pg_ctl stop -m fast`, as the `postgres` user when we are root (as the cluster runs).
fn stop_cluster(data: &Path) -> anyhow::Result<()> {
    let pg_ctl = find_pg_ctl().context("pg_ctl not found")?;
    let as_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let mut cmd = if as_root {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
        c
    } else {
        std::process::Command::new(&pg_ctl)
    };
    let status = cmd
        .args(["stop", "-m", "fast", "-w", "-D"])
        .arg(data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        bail!("pg_ctl stop failed: {status}");
    }
    Ok(())
}

fn find_pg_ctl() -> Option<PathBuf> {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("pg_ctl");
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let candidate = entry.path().join("bin/pg_ctl");
            candidate.is_file().then_some((version, candidate))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p)
}
