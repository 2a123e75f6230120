//! `orbitpay-demo`, the README's first command: the whole mission in one command, on a fresh machine, exiting 0.
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
//!
//! Everything it needs beyond the daemon (the simulator, the throwaway cluster) lives in this
//! crate, not in the production binary.

mod harness;
mod provision;
mod story;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;
use orbitpay::config::{LogConfig, LogFormat};

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("orbitpay-demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run());
    // Don't wait for stray blocking tasks (a hung DNS lookup, a stuck connect) at exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orbitpay-demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The demo, printing to stdout.
async fn run() -> anyhow::Result<()> {
    let log = LogConfig {
        format: LogFormat::Pretty,
        level: "error".into(),
    };
    orbitpay::telemetry::init(&log)?;
    let mut out = std::io::stdout();
    run_with(&mut out).await
}

/// The demo, printing its story to `out`.
async fn run_with(out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let scratch = tempfile::Builder::new()
        .prefix("orbitpay-demo-")
        .tempdir()
        .context("creating a scratch directory")?;
    writeln!(out, "orbitpay demo")?;
    let db = provision::DemoDatabase::provision(scratch.path()).await?;
    writeln!(out, "  database: {}", db.description)?;
    let result = tokio::select! {
        r = harness::run_daemon_and_steps(&db, scratch.path(), out) => r,
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
