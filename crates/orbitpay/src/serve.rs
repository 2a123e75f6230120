//! `orbitpay serve`: the daemon's lifecycle.
//!
//! Start, in order: configuration (done by the caller), logging (the caller), metrics recorder,
//! database pool and migrations (refusing a schema newer than this binary), the admin socket,
//! the config's accounts applied to the `watched_accounts` table, one leader loop (on one
//! connection it leads its fair share of the table's accounts, ingesting each, follower plus
//! matcher, only while it holds the account's lock, and follows the table's changes at runtime), the background jobs ([`crate::jobs`]), the
//! webhook dispatcher ([`crate::webhooks`]), then
//! `READY=1`. While running: the watchdog pings only while the liveness check
//! passes, a `STATUS=` line summarises leadership, lag and outbox depth, gauges refresh.
//!
//! Stop (SIGTERM, SIGINT, or the caller's token): `STOPPING=1`; stop accepting admin connections
//! and cancel ingestion together; in-flight requests and transactions finish, bounded by
//! `ingest.shutdown_grace`; the socket file is removed; return `Ok` (exit 0). A second signal
//! exits at once. Anything cut short is a rolled-back transaction: the two-phase claim/settle
//! design and recovery cover it, as they cover kill -9.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use orbitpay_core::{Backoff, Jitter, TxHash};
use orbitpay_store::outbox::OutboxDepth;
use orbitpay_store::{DbPool, StoreError};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use orbitpay_horizon::{HorizonSource, LedgerSource};
use orbitpay_matcher::{Matcher, MatcherConfig};

use crate::admin::{self, AdminState, ReportError, ReportOutcome, TxReporter};
use crate::config::Config;
use crate::config::IngestMode;
use crate::ingest::{LedgerIngest, NetworkIngest};
use crate::leader::{self, AccountIngest, LeaderSettings};
use crate::liveness::Liveness;
use crate::notify::{self, Notifier};
use crate::status::{StatusBoard, status_line};

/// What ingests accounts and confirms client-reported transactions. [`Wiring::production`]
/// builds the real one (Horizon follower + matcher); tests and the demo may substitute parts.
#[derive(Clone)]
pub struct Wiring {
    pub ingest: Arc<dyn AccountIngest>,
    /// Network mode's ingestion; without it the daemon ingests per account whatever the mode.
    pub network: Option<Arc<NetworkIngest>>,
    pub reporter: Arc<dyn TxReporter>,
    /// Drained at shutdown (its background confirmations of reported transactions).
    pub matcher: Option<Arc<Matcher>>,
    /// The ledger the recovery, expiry and reconciliation jobs ask; without it only pruning runs.
    pub source: Option<Arc<dyn LedgerSource>>,
}

/// The pieces of the running daemon a [`Wiring`] is built from.
pub struct WiringContext<'a> {
    pub config: &'a Config,
    pub pool: DbPool,
    pub liveness: Liveness,
    pub board: Arc<StatusBoard>,
}

pub type WiringFactory = Box<dyn FnOnce(WiringContext<'_>) -> anyhow::Result<Wiring> + Send>;

pub struct ServeOptions {
    pub notifier: Notifier,
    /// Cancel to stop the daemon (tests, the demo). Signals cancel it too when handled.
    pub shutdown: CancellationToken,
    /// SIGTERM/SIGINT stop the daemon; a second one exits the process at once.
    pub handle_signals: bool,
    /// `None`: the production wiring.
    pub wiring: Option<WiringFactory>,
    /// Told once the daemon is ready (after `READY=1`).
    pub on_ready: Option<oneshot::Sender<ReadyInfo>>,
    /// Watchdog ping interval; `None` asks the notifier (half of systemd's `WatchdogSec`).
    pub watchdog_interval: Option<Duration>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            notifier: Notifier::Systemd,
            shutdown: CancellationToken::new(),
            handle_signals: true,
            wiring: None,
            on_ready: None,
            watchdog_interval: None,
        }
    }
}

impl ServeOptions {
    /// A daemon embedded in another program (the demo, tests): no systemd, no signal handling,
    /// stopped through `shutdown`.
    pub fn embedded(shutdown: CancellationToken) -> Self {
        ServeOptions {
            notifier: Notifier::Off,
            shutdown,
            handle_signals: false,
            ..ServeOptions::default()
        }
    }
}

/// Handed to [`ServeOptions::on_ready`].
#[derive(Clone)]
pub struct ReadyInfo {
    pub admin_socket: PathBuf,
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub board: Arc<StatusBoard>,
    pub liveness: Liveness,
    pub pool: DbPool,
}

/// Runs the daemon until shutdown. `Ok` means a clean stop.
pub async fn run(config: Config, mut options: ServeOptions) -> anyhow::Result<()> {
    let shutdown = options.shutdown.clone();
    if options.handle_signals {
        spawn_signal_handler(shutdown.clone())?;
    }
    let notifier = options.notifier.clone();
    let accounts = config.watched_accounts()?;
    let database_tls = config.database.check_tls()?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        accounts = accounts.len(),
        database_tls = %database_tls,
        horizon = %config.horizon.url,
        network = %config.stellar.network,
        "starting orbitpay"
    );

    // Metrics recorder first, so everything below can emit.
    let prometheus = crate::metrics::install(crate::metrics::gauges_idle_after(
        config.metrics.refresh_interval,
        options
            .watchdog_interval
            .or_else(|| notifier.watchdog_interval()),
    ));

    // Database and migrations.
    let database_url = config.database_url();
    notifier.status("migrating the database");
    let applied = migrate_with_retry(database_url.expose(), &shutdown, &notifier).await?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "database migrated");
    }
    let pool = orbitpay_store::build_pool(database_url.expose(), &config.database.pool_config())
        .context("building the database pool")?;

    let liveness = Liveness::new(config.ingest.stuck_after);
    let board = StatusBoard::new(Vec::new());
    let wiring = match options.wiring.take() {
        Some(factory) => factory(WiringContext {
            config: &config,
            pool: pool.clone(),
            liveness: liveness.clone(),
            board: board.clone(),
        })?,
        None => Wiring::production(WiringContext {
            config: &config,
            pool: pool.clone(),
            liveness: liveness.clone(),
            board: board.clone(),
        })?,
    };

    // The config's accounts into the table (never removing one), then what the table holds.
    let accounts =
        crate::accounts::apply_config(&pool, &accounts, wiring.source.as_deref(), &shutdown)
            .await?;
    for (account, _) in &accounts {
        board.set_role(*account, crate::status::Role::Standby);
    }
    let ledger: Option<Arc<dyn admin::LedgerPosition>> = wiring
        .source
        .clone()
        .map(|source| Arc::new(crate::accounts::SourcePosition(source)) as _);

    // Admin socket. Its own token: it stops accepting first at shutdown.
    let admin_stop = CancellationToken::new();
    // The mode is decided once, at start (`auto`: by the accounts the table holds now).
    let network = match (config.ingest.mode_for(accounts.len()), &wiring.network) {
        (IngestMode::Network, Some(network)) => Some(network.clone()),
        (IngestMode::Network, None) => {
            tracing::warn!("network mode needs the production wiring; ingesting per account");
            None
        }
        _ => None,
    };
    tracing::info!(
        mode = if network.is_some() {
            "network"
        } else {
            "per_account"
        },
        accounts = accounts.len(),
        "ingest mode"
    );
    let mut admin_state = AdminState::from_config(
        &config,
        pool.clone(),
        ledger,
        wiring.source.clone(),
        wiring.reporter.clone(),
        board.clone(),
        prometheus.clone(),
    )?;
    admin_state.network_mode = network.is_some();
    let state = Arc::new(admin_state);
    let socket_options = admin::SocketOptions::from_config(&config.admin)?;
    let listener = match admin::from_systemd(socket_options.clone())
        .context("taking the admin socket from systemd")?
    {
        Some(activated) => activated,
        None => admin::bind(socket_options)
            .await
            .context("binding the admin socket")?,
    };
    let admin_socket = listener.path().to_owned();
    // Before anything can write an event: an event fans out to the endpoints registered when
    // it commits, so one written before the default endpoint is set would get no delivery.
    crate::webhooks::register_default(&config.webhooks, &pool, &shutdown).await;
    let mut tasks: JoinSet<&'static str> = JoinSet::new();
    {
        let router = admin::router(state);
        let stop = admin_stop.clone();
        tasks.spawn(async move {
            if let Err(e) = listener.serve(router, stop).await {
                tracing::error!(error = %e, "admin socket failed");
            }
            "admin socket"
        });
    }
    let metrics_stop = CancellationToken::new();
    let metrics_addr = match config.metrics.listen_addr()? {
        Some(addr) => {
            let (local, task) =
                crate::metrics::serve_tcp(addr, prometheus.clone(), metrics_stop.clone())
                    .await
                    .with_context(|| format!("binding metrics.listen {addr}"))?;
            tasks.spawn(async move {
                let _ = task.await;
                "metrics listener"
            });
            Some(local)
        }
        None => None,
    };

    // Ledger followers + matcher, under one leader loop for every account.
    let ingest_stop = CancellationToken::new();
    let leader_settings = LeaderSettings {
        database_url: database_url.clone(),
        session: config.database.session_settings(),
        retry: config.ingest.leader_retry,
        connect_timeout: config.database.connect_timeout,
        stop_grace: config.ingest.shutdown_grace,
        halted_release_after: config.ingest.halted_release_after,
    };
    {
        let (settings, pool, ingest, board, stop) = (
            leader_settings,
            pool.clone(),
            wiring.ingest.clone(),
            board.clone(),
            ingest_stop.clone(),
        );
        match network {
            Some(network) => tasks.spawn(async move {
                leader::lead_network(settings, pool, network, board, stop).await;
                "network leader"
            }),
            None => tasks.spawn(async move {
                leader::lead_accounts(settings, pool, ingest, board, stop).await;
                "account leader"
            }),
        };
    }

    // Background jobs, each guarded against overlap and safe across instances.
    let job_deps = crate::jobs::JobDeps {
        pool: pool.clone(),
        source: wiring.source.clone(),
        matcher: wiring.matcher.clone(),
        accounts: accounts.iter().map(|(a, _)| *a).collect(),
        board: board.jobs(),
    };
    let jobs = crate::jobs::start(&config, job_deps)
        .await
        .context("starting the job scheduler")?;
    let background_stop = CancellationToken::new();
    tasks.spawn({
        let run = crate::webhooks::run(
            config.webhooks.clone(),
            pool.clone(),
            database_url.clone(),
            background_stop.clone(),
        );
        async move {
            run.await;
            "webhook dispatcher"
        }
    });

    // Gauges, STATUS= line, watchdog.
    let (outbox_tx, outbox_rx) = watch::channel::<Option<OutboxDepth>>(None);
    {
        let refresher = crate::metrics::run_refresher(
            pool.clone(),
            board.clone(),
            config.metrics.refresh_interval,
            config.metrics.account_series,
            prometheus.clone(),
            outbox_tx,
            background_stop.clone(),
        );
        tasks.spawn(async move {
            refresher.await;
            "metrics refresher"
        });
    }
    tasks.spawn(run_status_line(
        notifier.clone(),
        board.clone(),
        outbox_rx,
        config.metrics.refresh_interval.min(Duration::from_secs(10)),
        background_stop.clone(),
    ));
    let watchdog = options
        .watchdog_interval
        .or_else(|| notifier.watchdog_interval());
    if let Some(interval) = watchdog {
        tracing::info!(
            interval_ms = interval.as_millis() as u64,
            "systemd watchdog enabled"
        );
        let (n, l, p, s) = (
            notifier.clone(),
            liveness.clone(),
            pool.clone(),
            background_stop.clone(),
        );
        tasks.spawn(async move {
            notify::run_watchdog(n, interval, l, p, s).await;
            "watchdog"
        });
    }

    notifier.ready();
    notifier.status(&status_line(&board, None));
    tracing::info!(admin_socket = %admin_socket.display(), "ready");
    if let Some(tx) = options.on_ready.take() {
        let _ = tx.send(ReadyInfo {
            admin_socket: admin_socket.clone(),
            metrics_addr,
            board: board.clone(),
            liveness: liveness.clone(),
            pool: pool.clone(),
        });
    }

    // Run until asked to stop, or until a task that should live forever ends.
    let early_exit = tokio::select! {
        _ = shutdown.cancelled() => None,
        ended = tasks.join_next() => Some(match ended {
            Some(Ok(name)) => format!("{name} stopped unexpectedly"),
            Some(Err(e)) => format!("a daemon task failed: {e}"),
            None => "no tasks".to_owned(),
        }),
    };

    notifier.stopping();
    notifier.status("stopping");
    tracing::info!("stopping: draining admin requests and ingestion");
    admin_stop.cancel();
    ingest_stop.cancel();
    background_stop.cancel();
    metrics_stop.cancel();
    let grace = config.ingest.shutdown_grace;
    let drained = tokio::time::timeout(grace, async {
        while let Some(done) = tasks.join_next().await {
            if let Err(e) = done
                && e.is_panic()
            {
                tracing::error!(error = %e, "a daemon task panicked");
            }
        }
        jobs.stop().await;
        // Background confirmations of client-reported transactions (recovery finishes any
        // that are cut short).
        if let Some(matcher) = &wiring.matcher {
            matcher.shutdown().await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            grace_ms = grace.as_millis() as u64,
            "work still running after the shutdown grace; abandoning it (transactions roll back)"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    // The admin listener removes its socket when it returns; make sure of it if it was aborted.
    remove_stale_socket(&admin_socket);
    pool.close();
    match early_exit {
        None => {
            tracing::info!("stopped");
            Ok(())
        }
        Some(reason) => Err(anyhow::anyhow!(reason)),
    }
}

/// Runs pending migrations, waiting for an unreachable database as long as it takes (it may
/// be starting alongside us, or failing over): exiting would only turn an outage into a
/// restart loop. Each retry says so in `STATUS=` and extends systemd's start timeout. A schema
/// newer than this binary is refused at once.
async fn migrate_with_retry(
    url: &str,
    shutdown: &CancellationToken,
    notifier: &Notifier,
) -> anyhow::Result<Vec<String>> {
    const MAX_DELAY: Duration = Duration::from_secs(5);
    let backoff = Backoff::new(Duration::from_millis(250), MAX_DELAY, Jitter::None);
    let mut failures = 0;
    let started = tokio::time::Instant::now();
    loop {
        match orbitpay_store::run_migrations(url).await {
            Ok(applied) => return Ok(applied),
            Err(e @ StoreError::SchemaTooNew { .. }) => {
                return Err(anyhow::Error::new(e)
                    .context("refusing to start: the database was migrated by a newer orbitpay"));
            }
            Err(e @ StoreError::DatabaseEncoding { .. }) => {
                return Err(anyhow::Error::new(e).context("refusing to start"));
            }
            Err(e) if is_connect_error(&e) => {
                let delay = backoff.delay(failures);
                failures += 1;
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                notifier.status(&format!(
                    "waiting for the database ({}s): {e}",
                    started.elapsed().as_secs()
                ));
                // Room for this wait, the next attempt's connect timeout and some slack.
                notifier.extend_start_timeout(delay + MAX_DELAY * 6);
                tokio::select! {
                    _ = shutdown.cancelled() => anyhow::bail!("shutdown before the database was reachable"),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            Err(e) => return Err(anyhow::Error::new(e).context("migrating the database")),
        }
    }
}

fn is_connect_error(e: &StoreError) -> bool {
    matches!(e, StoreError::Connect(_)) || e.is_retryable()
}

fn remove_stale_socket(path: &std::path::Path) {
    use std::os::unix::fs::FileTypeExt as _;
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
        && std::os::unix::net::UnixStream::connect(path).is_err()
    {
        let _ = std::fs::remove_file(path);
    }
}

async fn run_status_line(
    notifier: Notifier,
    board: Arc<StatusBoard>,
    outbox: watch::Receiver<Option<OutboxDepth>>,
    every: Duration,
    stop: CancellationToken,
) -> &'static str {
    let mut tick = tokio::time::interval(every);
    let mut last = String::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return "status line",
            _ = tick.tick() => {}
        }
        let line = status_line(&board, *outbox.borrow());
        if line != last {
            notifier.status(&line);
            last = line;
        }
    }
}

/// SIGTERM or SIGINT cancels `shutdown`; a second one exits at once.
fn spawn_signal_handler(shutdown: CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::spawn(async move {
        let mut seen = 0;
        loop {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            seen += 1;
            if seen == 1 {
                tracing::info!(signal = name, "shutdown requested");
                shutdown.cancel();
            } else {
                tracing::warn!(signal = name, "second signal: exiting now");
                std::process::exit(130);
            }
        }
    });
    Ok(())
}

/// The admin socket's report-tx path, answered by the matcher.
struct MatcherReporter(Arc<Matcher>);

#[async_trait::async_trait]
impl TxReporter for MatcherReporter {
    async fn report_tx(
        &self,
        session_id: Uuid,
        tx_hash: TxHash,
        wait: Duration,
    ) -> Result<ReportOutcome, ReportError> {
        self.0.report_tx(session_id, tx_hash, wait).await
    }
}

impl Wiring {
    /// The production wiring: a Horizon source, one matcher for the instance, and per account
    /// a follower feeding it ([`crate::ingest::LedgerIngest`]).
    pub fn production(ctx: WiringContext<'_>) -> anyhow::Result<Wiring> {
        let horizon = ctx.config.horizon.client_config()?;
        let follow = horizon.follow.clone();
        let source: Arc<dyn LedgerSource> =
            Arc::new(HorizonSource::new(horizon).context("building the Horizon client")?);
        let matcher = Matcher::new(ctx.pool.clone(), source.clone(), MatcherConfig::default());
        let ingest = Arc::new(LedgerIngest {
            source: source.clone(),
            matcher: matcher.clone(),
            follow,
            pool: ctx.pool,
            liveness: ctx.liveness,
            board: ctx.board,
        });
        Ok(Wiring {
            ingest: ingest.clone(),
            network: Some(Arc::new(NetworkIngest { ingest })),
            reporter: Arc::new(MatcherReporter(matcher.clone())),
            matcher: Some(matcher),
            source: Some(source),
        })
    }
}
