//! The demo's harness: the Horizon simulator and the daemon (through the same `serve::run` as
//! `orbitpay serve`), started, driven through the story, and stopped.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use orbitpay::config::{Config, Secret, WatchedAccount, now_token};
use orbitpay::serve::{self, ServeOptions};
use orbitpay_cli::Client;
use orbitpay_horizon_sim::{HorizonSim, SimConfig, derive_account};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::provision::{DemoDatabase, split_password};
use crate::story::Demo;

pub(crate) async fn run_daemon_and_steps(
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
    // The merchant's webhook endpoint: a receiver on loopback (hence allow_private).
    let receiver =
        orbitpay_testkit::receiver::Receiver::start(orbitpay_testkit::receiver::ok).await;
    let webhook_secret = orbitpay_webhooks::Secret::generate();
    config.webhooks.url = Some(receiver.url.clone());
    config.webhooks.secret = Secret::new(webhook_secret.clone());
    config.webhooks.allow_private = true;
    writeln!(out, "  webhook receiver: {}", receiver.url)?;
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
        // The operator page, through the same loopback proxy `orbitpay ui` runs; it lives as
        // long as the demo (the runtime ends it).
        let proxy = orbitpay_cli::ui::UiProxy::bind(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            ready.admin_socket.clone(),
        )
        .await?;
        writeln!(out, "  operator page: {}", proxy.url())?;
        tokio::spawn(proxy.serve(std::future::pending()));
        let demo = Demo {
            client: Client::new(&ready.admin_socket)?,
            sim: &sim,
            payer,
            shop,
            receiver: &receiver,
            webhook_secret: &webhook_secret,
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
