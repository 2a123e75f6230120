//! The `orbitpay` binary: the daemon (`serve`), its maintenance commands, and the
//! admin CLI (`orbitpay sessions create ...`, from the `orbitpay-cli` crate) which talks to a
//! running daemon over its admin socket.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use orbitpay::config::Config;
use orbitpay::serve::{self, ServeOptions};

#[derive(Parser, Debug)]
#[command(
    name = "orbitpay",
    version,
    about = "Self-hosted Stellar payment daemon"
)]
struct Cli {
    /// Configuration file (TOML). Default: /etc/orbitpay/orbitpay.toml when it exists.
    /// `ORBITPAY_SECTION__KEY` environment variables override its keys.
    #[arg(long, short = 'c', global = true, env = "ORBITPAY_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    admin: orbitpay_cli::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Validate the configuration and print it, secrets redacted; non-zero exit on error.
    CheckConfig,
    #[command(flatten)]
    Admin(orbitpay_cli::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Admin(command) = &cli.command {
        return admin_command(command, &cli);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("orbitpay: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve_command(cli.config).await,
            Command::Migrate => migrate_command(cli.config).await,
            Command::CheckConfig => check_config(cli.config),
            Command::Admin(_) => unreachable!("handled above"),
        }
    });
    // Don't wait for stray blocking tasks (a hung DNS lookup, a stuck connect) at exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orbitpay: {e:#}");
            tracing::error!(error = format!("{e:#}"), "exiting");
            ExitCode::FAILURE
        }
    }
}

fn load(path: Option<PathBuf>) -> anyhow::Result<Config> {
    Ok(Config::load(path.as_deref())?)
}

async fn serve_command(path: Option<PathBuf>) -> anyhow::Result<()> {
    orbitpay_store::crash::arm();
    let config = load(path)?;
    orbitpay::telemetry::init(&config.log)?;
    serve::run(config, ServeOptions::default()).await
}

async fn migrate_command(path: Option<PathBuf>) -> anyhow::Result<()> {
    let config = load(path)?;
    orbitpay::telemetry::init(&config.log)?;
    config.database.check_tls()?;
    let applied = orbitpay_store::run_migrations(config.database_url().expose())
        .await
        .context("migrating the database")?;
    if applied.is_empty() {
        println!("database schema is current");
    } else {
        for version in applied {
            println!("applied {version}");
        }
    }
    Ok(())
}

fn check_config(path: Option<PathBuf>) -> anyhow::Result<()> {
    let config = load(path)?;
    let tls = config.database.check_tls()?;
    // A comment: the output stays the effective configuration, as TOML.
    println!("# database TLS: {tls}");
    print!("{}", config.to_redacted_toml());
    eprintln!("configuration OK");
    Ok(())
}

/// An admin CLI command against the socket from `--socket`, else the configuration's
/// `admin.socket`, else the default.
fn admin_command(command: &orbitpay_cli::Command, cli: &Cli) -> ExitCode {
    let socket = orbitpay_cli::resolve_socket(cli.admin.socket.clone(), || {
        match Config::load(cli.config.as_deref()) {
            Ok(config) => Some(config.admin.socket),
            Err(e) => {
                if cli.config.is_some() {
                    eprintln!("orbitpay: {e}; using the default admin socket");
                }
                None
            }
        }
    });
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("orbitpay: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(orbitpay_cli::run(
        command,
        &socket,
        cli.admin.json,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
