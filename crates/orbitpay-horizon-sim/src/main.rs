//! `orbitpay-horizon-sim --listen 127.0.0.1:8000 [--seed N] [--script FILE]
//! [--network-payments-per-second 200 [--watched-per-mille 10]]`

use std::time::Duration;

use clap::Parser;
use orbitpay_horizon_sim::{HorizonSim, NetworkTraffic, Script, SimConfig};

#[derive(Parser, Debug)]
#[command(version, about = "A deterministic Horizon simulator")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: String,
    /// Seed for hashes and random traffic.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Script file to run before serving (see the crate docs for its format).
    #[arg(long)]
    script: Option<std::path::PathBuf>,
    /// The first ledger sequence closed.
    #[arg(long, default_value_t = 1000)]
    start_ledger: u32,
    /// Stream connection timeout in seconds.
    #[arg(long, default_value_t = 55.0)]
    stream_timeout: f64,
    /// Base URL used in `_links` (default: from the Host header).
    #[arg(long)]
    base_url: Option<String>,
    /// Background network traffic: payments per second across the network (0: none), a
    /// ledger every 5 s, `--watched-per-mille` of them to the script's accounts.
    #[arg(long, default_value_t = 0)]
    network_payments_per_second: u32,
    /// Of the network traffic, how many payments in a thousand pay a script account.
    #[arg(long, default_value_t = 10)]
    watched_per_mille: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let sim = HorizonSim::new(SimConfig {
        seed: args.seed,
        start_ledger: args.start_ledger,
        stream_timeout: Duration::from_secs_f64(args.stream_timeout),
        base_url: args.base_url.clone(),
        ..SimConfig::default()
    });
    let mut live = None;
    let mut accounts = Vec::new();
    if let Some(path) = &args.script {
        let script = Script::parse(&std::fs::read_to_string(path)?)?;
        accounts = script.apply(&sim)?;
        live = script.live;
    }
    for (i, a) in accounts.iter().enumerate() {
        println!("acct{i} {a}");
    }
    let server = sim.serve(&args.listen).await?;
    println!(
        "listening on {} (latest ledger {})",
        server.base_url(),
        sim.latest_ledger()
    );
    let accounts_for_traffic = accounts.clone();
    if let Some((interval, per_ledger)) = live {
        let sim = sim.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                sim.random_traffic(per_ledger, &accounts);
            }
        });
    }
    let _traffic = (args.network_payments_per_second > 0).then(|| {
        sim.start_network_traffic(NetworkTraffic {
            payments_per_second: args.network_payments_per_second,
            watched_per_mille: args.watched_per_mille,
            watched: accounts_for_traffic.clone(),
            ..NetworkTraffic::default()
        })
    });
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
