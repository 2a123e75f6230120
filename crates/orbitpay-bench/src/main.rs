//! `orbitpay-bench`: measures the daemon and its same-run baselines in one run, on one
//! database, and writes JSON plus a readable table. `--smoke` is a small run for CI that checks
//! the harness and that every payment was credited once, and asserts no timings.
//!
//! ```text
//! cargo run --release -p orbitpay-bench -- [--payments 100000] [--scale-1m] [--out DIR]
//! cargo run --release -p orbitpay-bench -- --only creation     # one phase, with its baselines
//! cargo run --release -p orbitpay-bench -- --only accounts --accounts-sizes 10,1000
//! ```

mod accounts;
mod baselines;
mod child;
mod fixture;
mod pages;
mod phases;
mod report;
mod stats;
mod webhooks;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use orbitpay::config::now_token;
use orbitpay_core::AccountId;
use orbitpay_horizon_sim::{HorizonSim, SimConfig, derive_account};
use orbitpay_testkit::TestDb;

use crate::child::{ChildArgs, Daemon, Memory};
use crate::fixture::{
    Expect, check_paid_once, connect, pay_all, seed_sessions, settle_seeded, wait_cursor,
};
use crate::report::{Catchup, Report, Scale};

#[derive(Parser, Debug)]
#[command(
    name = "orbitpay-bench",
    about = "Benchmarks the daemon against same-run baselines"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// (internal) The daemon under test, in its own process.
    #[command(hide = true)]
    Daemon(ChildArgs),
}

#[derive(Debug, Clone, clap::Args)]
struct RunArgs {
    /// Pending sessions paid by the catch-up run (and the bulk SQL baseline).
    #[arg(long, default_value_t = 100_000)]
    payments: u64,
    /// Payments for the naive watcher (it is slow; its rate is what matters).
    #[arg(long, default_value_t = 10_000)]
    naive_payments: u64,
    /// Payments for the per-payment SQL baseline.
    #[arg(long, default_value_t = 20_000)]
    per_payment_payments: u64,
    /// Live probes, idle and again under background load.
    #[arg(long, default_value_t = 200)]
    probes: usize,
    /// Background payments per second during the loaded probes.
    #[arg(long, default_value_t = 500)]
    load_rate: usize,
    /// Session creations over the socket at concurrency 1 (32 runs four times as many).
    #[arg(long, default_value_t = 1_000)]
    creates: usize,
    /// Sessions paid at once in the webhook delivery phase (after `--probes` one at a time).
    #[arg(long, default_value_t = 2_000)]
    webhook_sessions: i64,
    /// Sessions paid in the scale runs; each gets `--scale-parts` partial payments.
    #[arg(long, default_value_t = 1_000)]
    scale_sessions: i64,
    /// Partial payments per session in the scale runs: enough that each case lasts several
    /// seconds, so that a one-off cost (the daemon's start, a metrics refresh) does not decide
    /// the ratio; few enough that the session snapshot in each event (every payment so far)
    /// stays small.
    #[arg(long, default_value_t = 20)]
    scale_parts: i64,
    /// Sessions seeded for the operator page's timings (with their payments, events, refunds
    /// and unmatched payments).
    #[arg(long, default_value_t = 1_000_000)]
    pages_sessions: i64,
    /// Requests per operator page.
    #[arg(long, default_value_t = 100)]
    page_requests: usize,
    /// Also run the scale case with 1,000,000 pending sessions (inserting them takes a while).
    #[arg(long)]
    scale_1m: bool,
    /// Watched accounts in the accounts phase, one run per size (and mode).
    #[arg(long, value_delimiter = ',', default_values_t = [10usize, 1_000, 10_000])]
    accounts_sizes: Vec<usize>,
    /// Ingest modes for the accounts phase (`ingest.mode` values), one run per size and mode.
    #[arg(long, value_delimiter = ',', default_values_t = ["per_account".to_owned(), "network".to_owned()])]
    accounts_modes: Vec<String>,
    /// Measured seconds per size and mode in the accounts phase (after the warm-up): longer
    /// than a quiet stream's ~55 s close, so each stream's reconnect falls in the window.
    #[arg(long, default_value_t = 90)]
    accounts_seconds: u64,
    /// Small run for CI: correctness checked, timings reported but not asserted.
    #[arg(long)]
    smoke: bool,
    /// Run only these phases (repeatable), each with its own baselines; all when absent.
    #[arg(long, value_enum)]
    only: Vec<Phase>,
    /// Where bench.json and bench.txt go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Keep the run's directory (each daemon's JSON log and socket); its path is printed.
    #[arg(long)]
    keep_logs: bool,
}

/// A phase of the run, for `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Phase {
    /// Catch-up throughput and memory, with the naive, per-payment and bulk baselines.
    Catchup,
    /// Live latency, idle and under load.
    Live,
    /// Session creation over the socket, with the create-SQL baseline.
    Creation,
    /// Webhook delivery to a local receiver.
    Webhooks,
    /// Catch-up with 1k (and, with --scale-1m, 1M) pending sessions.
    Scale,
    /// Each operator page's latency over a seeded history of `--pages-sessions` sessions.
    Pages,
    /// 10 to 10,000 watched accounts under network traffic, per ingest mode.
    Accounts,
}

impl RunArgs {
    fn wants(&self, phase: Phase) -> bool {
        self.only.is_empty() || self.only.contains(&phase)
    }

    fn smoke(mut self) -> RunArgs {
        self.payments = 5_000;
        self.naive_payments = 500;
        self.per_payment_payments = 1_000;
        self.probes = 20;
        self.load_rate = 50;
        self.creates = 50;
        self.scale_sessions = 100;
        self.scale_parts = 10;
        self.webhook_sessions = 100;
        self.pages_sessions = 10_000;
        self.page_requests = 10;
        self.scale_1m = false;
        self.accounts_sizes = vec![10];
        self.accounts_modes = vec!["per_account".to_owned(), "network".to_owned()];
        self.accounts_seconds = 5;
        self
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Daemon(args)) = cli.command {
        return child::run_child(args);
    }
    let args = if cli.run.smoke {
        cli.run.clone().smoke()
    } else {
        cli.run
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

/// Accounts, one per measurement, so no two share sessions or a cursor.
struct Accounts {
    payer: AccountId,
    shop: AccountId,
    idle: AccountId,
    naive: AccountId,
    per_payment: AccountId,
    bulk1: AccountId,
    bulk2: [AccountId; 2],
    create_sql: AccountId,
    hooks: AccountId,
}

const SEED: u64 = 14;
/// The daemon's pool in the accounts phase (the child's default).
const ACCOUNTS_POOL_SIZE: usize = 10;
/// Stroops per catch-up payment (and session amount).
const AMOUNT: i64 = 10_000_000;

pub(crate) fn say(msg: impl std::fmt::Display) {
    eprintln!("[bench] {msg}");
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let t_run = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("orbitpay-bench-")
        .tempdir()?;
    let (_temp, dir) = if args.keep_logs {
        let kept = dir.keep();
        say(format!("daemon logs kept in {}", kept.display()));
        (None, kept)
    } else {
        let path = dir.path().to_owned();
        (Some(dir), path)
    };
    let sim = HorizonSim::new(SimConfig {
        seed: SEED,
        ..SimConfig::default()
    });
    let a = Accounts {
        shop: derive_account(SEED, 0),
        payer: derive_account(SEED, 1),
        idle: derive_account(SEED, 2),
        naive: derive_account(SEED, 3),
        per_payment: derive_account(SEED, 4),
        bulk1: derive_account(SEED, 5),
        bulk2: [derive_account(SEED, 6), derive_account(SEED, 7)],
        create_sql: derive_account(SEED, 8),
        hooks: derive_account(SEED, 9),
    };
    for account in [
        &a.payer,
        &a.shop,
        &a.idle,
        &a.naive,
        &a.per_payment,
        &a.hooks,
    ] {
        sim.register_account(*account);
    }
    let horizon = sim.serve("127.0.0.1:0").await?;
    let horizon_url = horizon.base_url().to_owned();
    let db = TestDb::new().await;
    let sql = connect(db.url()).await?;
    let catchup_wanted = args.wants(Phase::Catchup);

    let n = i64::try_from(args.payments)?;
    let probes = i64::try_from(args.probes)?;
    // The background load runs for at most 20 s.
    let load_sessions = i64::try_from(args.load_rate)? * 21;
    // The shop's sessions are seeded whatever runs, so every phase meets a table of the same
    // size; they are paid on the ledger only when the catch-up runs.
    say(format!("seeding {n} pending sessions"));
    seed_sessions(&sql, &a.shop, 1, n + 2 * probes + load_sessions, AMOUNT).await?;
    let shop_start = now_token(sim.latest_ledger());
    let mut catchup_last = None;
    if catchup_wanted {
        let catchup_payments = pay_all(&sim, a.payer, a.shop, 1..=args.payments, AMOUNT);
        catchup_last = Some(catchup_payments.last().context("no payments")?.op_id);
    }

    let mut fixtures = None;
    if catchup_wanted {
        let naive_n = i64::try_from(args.naive_payments)?;
        seed_sessions(&sql, &a.naive, 1, naive_n, AMOUNT).await?;
        let naive_start = now_token(sim.latest_ledger());
        pay_all(&sim, a.payer, a.naive, 1..=args.naive_payments, AMOUNT);
        let pp_n = i64::try_from(args.per_payment_payments)?;
        seed_sessions(&sql, &a.per_payment, 1, pp_n, AMOUNT).await?;
        let per_payment = pay_all(
            &sim,
            a.payer,
            a.per_payment,
            1..=args.per_payment_payments,
            AMOUNT,
        );
        seed_sessions(&sql, &a.bulk1, 1, n, AMOUNT).await?;
        let bulk1 = pay_all(&sim, a.payer, a.bulk1, 1..=args.payments, AMOUNT);
        let half = args.payments / 2;
        let mut bulk2 = Vec::new();
        for account in &a.bulk2 {
            seed_sessions(&sql, account, 1, i64::try_from(half)?, AMOUNT).await?;
            bulk2.push((*account, pay_all(&sim, a.payer, *account, 1..=half, AMOUNT)));
        }
        fixtures = Some((naive_start, per_payment, bulk1, bulk2));
    }
    settle_seeded(&sql).await?;

    let mut idle_memory = None;
    if catchup_wanted {
        // Idle memory: a daemon watching an account nobody pays.
        say("idle memory");
        let idle = Daemon::start(
            db.url(),
            &horizon_url,
            &dir,
            "idle",
            &[(a.idle.to_string(), now_token(sim.latest_ledger()))],
            None,
        )
        .await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        idle_memory = Some(idle.memory()?);
        idle.stop().await?;
    }

    // Catch-up: every payment is on the ledger before the daemon starts.
    say(format!(
        "daemon{}",
        if catchup_wanted {
            format!("; catch-up: {n} payments")
        } else {
            String::new()
        }
    ));
    let daemon = Daemon::start(
        db.url(),
        &horizon_url,
        &dir,
        "daemon",
        &[(a.shop.to_string(), shop_start)],
        None,
    )
    .await?;
    let mut catchup = None;
    if let Some(last) = catchup_last {
        let done = wait_cursor(&sql, &a.shop, last, Duration::from_secs(3600)).await?;
        let catchup_memory = daemon.memory()?;
        let check = check_paid_once(
            &sql,
            &a.shop,
            &Expect {
                references: (1..=n).collect(),
                ops_per_session: 1,
                events: true,
            },
        )
        .await?;
        let c = Catchup {
            throughput: stats::Throughput::new(args.payments, done - daemon.started),
            memory: catchup_memory,
            check,
        };
        say(format!("catch-up: {:.0}/s", c.throughput.per_second));
        catchup = Some(c);
    }

    let mut live = None;
    if args.wants(Phase::Live) {
        // Live: the daemon now follows the stream.
        sql.batch_execute(phases::PAID_TRIGGER).await?;
        let probe_refs: Vec<u64> = (n + 1..=n + probes).map(|r| r as u64).collect();
        let loaded_refs: Vec<u64> = (n + probes + 1..=n + 2 * probes)
            .map(|r| r as u64)
            .collect();
        let load_refs: Vec<u64> = (n + 2 * probes + 1..=n + 2 * probes + load_sessions)
            .map(|r| r as u64)
            .collect();
        say("live latency, idle");
        let live_idle =
            phases::live_latency(&sim, db.url(), a.payer, a.shop, &probe_refs, AMOUNT, None)
                .await?;
        say("live latency, under load");
        let live_loaded = phases::live_latency(
            &sim,
            db.url(),
            a.payer,
            a.shop,
            &loaded_refs,
            AMOUNT,
            Some(phases::Background {
                references: load_refs,
                per_second: args.load_rate,
            }),
        )
        .await?;
        let live_paid: Vec<i64> = live_idle
            .paid
            .iter()
            .chain(&live_loaded.paid)
            .copied()
            .collect();
        fixture::wait_paid(&sql, &a.shop, &live_paid, Duration::from_secs(600)).await?;
        sql.batch_execute(phases::DROP_PAID_TRIGGER).await?;
        let live_check = check_paid_once(
            &sql,
            &a.shop,
            &Expect {
                references: live_paid,
                ops_per_session: 1,
                events: true,
            },
        )
        .await?;
        live = Some(report::LiveReport {
            idle: live_idle,
            loaded: live_loaded,
            check: live_check,
        });
    }

    let mut creation = None;
    if args.wants(Phase::Creation) {
        say("session creation over the socket");
        let create1 = phases::create_over_socket(&daemon.socket, args.creates, 1).await?;
        let create32 = phases::create_over_socket(&daemon.socket, args.creates * 4, 32).await?;
        creation = Some([create1, create32]);
    }
    let after_memory = daemon.memory()?;
    daemon.stop().await?;

    let mut baselines = None;
    if let Some((naive_start, per_payment, bulk1, bulk2)) = fixtures {
        say("baseline: naive watcher");
        let naive = baselines::naive_watcher(
            &horizon_url,
            db.url(),
            &a.naive,
            naive_start,
            usize::try_from(args.naive_payments)?,
        )
        .await?;
        let naive_check = Expect {
            references: (1..=i64::try_from(args.naive_payments)?).collect(),
            ops_per_session: 1,
            events: false,
        };
        check_paid_once(&sql, &a.naive, &naive_check).await?;
        say("baseline: per-payment SQL, 8 clients");
        let per_payment8 = baselines::per_payment(db.url(), &a.per_payment, per_payment, 8).await?;
        check_paid_once(
            &sql,
            &a.per_payment,
            &Expect {
                references: (1..=i64::try_from(args.per_payment_payments)?).collect(),
                ops_per_session: 1,
                events: true,
            },
        )
        .await?;
        say("baseline: bulk SQL");
        let bulk_1 = baselines::bulk(db.url(), vec![(a.bulk1, bulk1)]).await?;
        check_paid_once(
            &sql,
            &a.bulk1,
            &Expect {
                references: (1..=n).collect(),
                ops_per_session: 1,
                events: true,
            },
        )
        .await?;
        let bulk_2 = baselines::bulk(db.url(), bulk2).await?;
        baselines = Some(report::CatchupBaselines {
            naive,
            per_payment8,
            bulk_1,
            bulk_2,
        });
    }
    let create_sql = match creation {
        Some(socket) => {
            say("baseline: create SQL");
            let sql1 = baselines::create_sql(db.url(), &a.create_sql, args.creates, 1).await?;
            let sql32 =
                baselines::create_sql(db.url(), &a.create_sql, args.creates * 4, 32).await?;
            Some(report::Creation {
                socket,
                sql: [sql1, sql32],
            })
        }
        None => None,
    };
    let postgres: String = sql.query_one("SHOW server_version", &[]).await?.get(0);
    drop(sql);
    drop(db);

    let webhooks = if args.wants(Phase::Webhooks) {
        Some(
            webhooks::measure(
                &sim,
                &horizon_url,
                &dir,
                a.payer,
                a.hooks,
                probes,
                args.webhook_sessions,
            )
            .await?,
        )
    } else {
        None
    };

    let mut scale = Vec::new();
    if args.wants(Phase::Scale) {
        let mut cases = vec![1_000i64];
        if args.scale_1m {
            cases.push(1_000_000);
        }
        for (i, pending) in cases.into_iter().enumerate() {
            let shop = derive_account(SEED, 100 + i as u64);
            sim.register_account(shop);
            scale.push(scale_run(&sim, &horizon_url, &dir, a.payer, shop, pending, &args).await?);
        }
    }
    let pages = if args.wants(Phase::Pages) {
        let shop = derive_account(SEED, 200);
        sim.register_account(shop);
        Some(
            pages::measure(
                &sim,
                &horizon_url,
                &dir,
                shop,
                a.payer,
                args.pages_sessions,
                args.page_requests,
            )
            .await?,
        )
    } else {
        None
    };
    let (accounts, accounts_skipped) = if args.wants(Phase::Accounts) {
        accounts::measure(
            &sim,
            &horizon_url,
            &dir,
            a.payer,
            &accounts::Plan {
                sizes: args.accounts_sizes.clone(),
                modes: args.accounts_modes.clone(),
                window: Duration::from_secs(args.accounts_seconds),
                pool_size: ACCOUNTS_POOL_SIZE,
            },
        )
        .await?
    } else {
        (Vec::new(), Vec::new())
    };
    horizon.shutdown().await;

    let report = Report {
        smoke: args.smoke,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine: report::Machine {
            postgres,
            ..report::machine()
        },
        catchup,
        baselines,
        live,
        creation: create_sql,
        idle_memory,
        after_memory,
        scale,
        webhooks,
        pages,
        accounts,
        accounts_skipped,
        seconds: t_run.elapsed().as_secs_f64(),
    };
    report.write(&args.out)?;
    Ok(())
}

/// Catch-up with `pending` sessions in a fresh database: `--scale-sessions` of them (spread
/// over the reference range) receive `--scale-parts` partial payments each, interleaved so
/// that a page never names a session twice; the rest stay pending.
async fn scale_run(
    sim: &HorizonSim,
    horizon: &str,
    dir: &std::path::Path,
    payer: AccountId,
    shop: AccountId,
    pending: i64,
    args: &RunArgs,
) -> anyhow::Result<Scale> {
    let (paid, parts) = (args.scale_sessions.min(pending), args.scale_parts);
    anyhow::ensure!(
        parts > 0 && AMOUNT % parts == 0,
        "--scale-parts must divide {AMOUNT} stroops"
    );
    say(format!(
        "scale: {pending} pending sessions, {paid} of them paid in {parts} parts"
    ));
    let db = TestDb::new().await;
    let sql = connect(db.url()).await?;
    let t = Instant::now();
    seed_sessions(&sql, &shop, 1, pending, AMOUNT).await?;
    settle_seeded(&sql).await?;
    let seeded = t.elapsed();
    let step = pending / paid;
    let refs: Vec<i64> = (0..paid).map(|i| 1 + i * step).collect();
    let start = now_token(sim.latest_ledger());
    let order = (0..parts).flat_map(|_| refs.iter().map(|r| *r as u64));
    let payments = pay_all(sim, payer, shop, order, AMOUNT / parts);
    let last = payments.last().context("no payments")?.op_id;
    let daemon = Daemon::start(
        db.url(),
        horizon,
        dir,
        &format!("scale{pending}"),
        &[(shop.to_string(), start)],
        None,
    )
    .await?;
    let done = wait_cursor(&sql, &shop, last, Duration::from_secs(3600)).await?;
    let throughput = stats::Throughput::new(payments.len() as u64, done - daemon.started);
    let memory: Memory = daemon.memory()?;
    daemon.stop().await?;
    let check = check_paid_once(
        &sql,
        &shop,
        &Expect {
            references: refs,
            ops_per_session: parts,
            events: true,
        },
    )
    .await?;
    let untouched: i64 = sql
        .query_one(
            "SELECT count(*) FROM sessions WHERE account = $1 AND status = 'pending'",
            &[&shop.to_string()],
        )
        .await?
        .get(0);
    anyhow::ensure!(
        untouched == pending - paid,
        "{untouched} sessions still pending, expected {}",
        pending - paid
    );
    Ok(Scale {
        pending,
        seed_seconds: seeded.as_secs_f64(),
        throughput,
        memory,
        check,
    })
}
