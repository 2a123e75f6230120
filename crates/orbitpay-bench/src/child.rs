//! The daemon under test runs in a child process (this binary's hidden `daemon` command, which
//! calls the same `serve::run` as `orbitpay serve`), so its memory is read from its own
//! `/proc/<pid>/status` and never mixes with the simulator's or the baselines'.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use orbitpay::config::{Config, WatchedAccount};
use orbitpay::serve::{self, ServeOptions};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// The line the child prints on stderr once the daemon is ready.
const READY: &str = "orbitpay-bench-daemon: ready";

/// What the child daemon needs; passed on its command line.
#[derive(Debug, Clone, clap::Args)]
pub struct ChildArgs {
    #[arg(long)]
    pub db_url: String,
    #[arg(long)]
    pub horizon: String,
    #[arg(long)]
    pub socket: PathBuf,
    /// `G...:start_token`, once per watched account (none: the accounts are in the table).
    #[arg(long = "watch")]
    pub watch: Vec<String>,
    /// `ingest.mode`, always explicit: `auto` would switch to network above 3 accounts, so a
    /// phase's numbers would depend on its size. Set through the config's own deserialisation.
    #[arg(long, default_value = "per_account")]
    pub ingest_mode: String,
    #[arg(long, default_value_t = 10)]
    pub pool_size: usize,
    /// `ingest.leader_retry`: short, so the phases' daemons lead at once.
    #[arg(long, default_value_t = 200)]
    pub leader_retry_ms: u64,
    /// The default webhook endpoint (loopback allowed); needs `--webhook-secret`.
    #[arg(long, requires = "webhook_secret")]
    pub webhook_url: Option<String>,
    #[arg(long)]
    pub webhook_secret: Option<String>,
}

/// Where the daemon delivers webhooks, and the secret it signs them with.
pub struct WebhookTarget<'a> {
    pub url: &'a str,
    pub secret: &'a str,
}

/// The child's main: the daemon with production logging (JSON lines on stdout, which the
/// parent sends to a file), stopped by SIGTERM like under systemd.
pub fn run_child(args: ChildArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut config = config_with_mode(&args.ingest_mode)?;
        config.database.url = args.db_url;
        config.database.pool_size = args.pool_size;
        config.horizon.url = args.horizon;
        config.admin.socket = args.socket;
        config.ingest.leader_retry = Duration::from_millis(args.leader_retry_ms);
        if let (Some(url), Some(secret)) = (args.webhook_url, args.webhook_secret) {
            config.webhooks.url = Some(url);
            config.webhooks.secret = orbitpay::config::Secret::new(secret);
            config.webhooks.allow_private = true;
        }
        config.accounts = args
            .watch
            .iter()
            .map(|w| {
                let (address, token) = w.split_once(':').context("--watch G...:token")?;
                let mut account = WatchedAccount::new(address.to_owned());
                account.start_cursor = Some(token.to_owned());
                Ok(account)
            })
            .collect::<anyhow::Result<_>>()?;
        config.validate()?;
        orbitpay::telemetry::init(&config.log)?;
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let options = ServeOptions {
            handle_signals: true,
            on_ready: Some(ready_tx),
            ..ServeOptions::embedded(CancellationToken::new())
        };
        let daemon = tokio::spawn(serve::run(config, options));
        if ready_rx.await.is_ok() {
            eprintln!("{READY}");
        }
        daemon.await?
    })
}

/// The default config with `ingest.mode = mode`, as a config file would set it: an error when
/// this daemon does not recognise the key (or the value).
pub fn config_with_mode(mode: &str) -> anyhow::Result<Config> {
    let mut value = serde_json::to_value(Config::default())?;
    value["ingest"]["mode"] = serde_json::Value::String(mode.to_owned());
    serde_json::from_value(value).with_context(|| format!("ingest.mode = {mode:?}"))
}

/// A running child daemon.
pub struct Daemon {
    child: Child,
    pub pid: u32,
    pub socket: PathBuf,
    pub started: Instant,
}

impl Daemon {
    /// Starts the daemon watching `watch` (`(account, start token)`) and waits until it is
    /// ready, delivering webhooks to `webhooks` if given. Its logs go to `log`.
    pub async fn start(
        db_url: &str,
        horizon: &str,
        dir: &Path,
        name: &str,
        watch: &[(String, i64)],
        webhooks: Option<WebhookTarget<'_>>,
    ) -> anyhow::Result<Daemon> {
        Self::start_with(db_url, horizon, dir, name, watch, webhooks, &[]).await
    }

    /// [`Daemon::start`] with more arguments for the child (`--ingest-mode`, `--pool-size`).
    pub async fn start_with(
        db_url: &str,
        horizon: &str,
        dir: &Path,
        name: &str,
        watch: &[(String, i64)],
        webhooks: Option<WebhookTarget<'_>>,
        extra: &[String],
    ) -> anyhow::Result<Daemon> {
        let socket = dir.join(format!("{name}.sock"));
        let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
        let exe = std::env::current_exe()?;
        let mut command = Command::new(exe);
        command
            .arg("daemon")
            .arg("--db-url")
            .arg(db_url)
            .arg("--horizon")
            .arg(horizon)
            .arg("--socket")
            .arg(&socket);
        if let Some(w) = webhooks {
            command
                .arg("--webhook-url")
                .arg(w.url)
                .arg("--webhook-secret")
                .arg(w.secret);
        }
        for (account, token) in watch {
            command.arg("--watch").arg(format!("{account}:{token}"));
        }
        command.args(extra);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = command.spawn().context("starting the daemon child")?;
        let pid = child.id().context("the daemon child has no pid")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut ready = Some(ready_tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if line == READY {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                } else {
                    eprintln!("  [daemon {pid}] {line}");
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(60), ready_rx)
            .await
            .context("the daemon was not ready within 60 s")?
            .context("the daemon exited before it was ready")?;
        Ok(Daemon {
            child,
            pid,
            socket,
            started,
        })
    }

    /// Resident memory now and at its peak, in KiB.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            let line = status
                .lines()
                .find(|l| l.starts_with(name))
                .with_context(|| format!("{name} missing"))?;
            Ok(line
                .split_whitespace()
                .nth(1)
                .context("no value")?
                .parse()?)
        };
        Ok(Memory {
            rss_kib: field("VmRSS:")?,
            peak_kib: field("VmHWM:")?,
        })
    }

    /// SIGTERM, as systemd stops it; the daemon must exit 0 within 30 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.pid)?);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .context("the daemon did not stop within 30 s")??;
        anyhow::ensure!(status.success(), "the daemon exited with {status}");
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_kib: u64,
}
