//! The `accounts` phase: one daemon watching N accounts (10, 1,000, 10,000 by default) under
//! network traffic of 200 payments/s, 1% of them to the watched accounts, for each ingest mode.
//! Per size and mode: the daemon's database connections, Horizon requests and stream credits
//! per hour (counted at the simulator), its RSS, and credit latency from the ledger's close to
//! the paying transaction's commit.
//!
//! The traffic is closed here, a ledger every 5 s as on the network (rather than by the
//! simulator's `start_network_traffic`), so that each watched payment pays a seeded session and
//! its ledger's close instant is known; the strangers' payments are the same shape.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use orbitpay_core::{AccountId, Asset, Memo};
use orbitpay_horizon_sim::{HorizonSim, Op, RouteKind, Tx, derive_account, stroops};
use orbitpay_testkit::TestDb;
use serde::Serialize;

use crate::child::{Daemon, Memory};
use crate::fixture::{connect, listen};
use crate::phases::{PAID_CHANNEL, PAID_TRIGGER};
use crate::stats::Latency;

/// What to run.
pub struct Plan {
    pub sizes: Vec<usize>,
    pub modes: Vec<String>,
    /// The measured window per size and mode, after every account streams (or the warm-up
    /// bound passed).
    pub window: Duration,
    pub pool_size: usize,
}

/// A ledger every 5 s, as on the network.
const LEDGER_INTERVAL: Duration = Duration::from_secs(5);
/// 200 payments/s across the network.
const PAYMENTS_PER_LEDGER: usize = 1_000;
/// 1% of them to watched accounts.
const WATCHED_PER_LEDGER: usize = 10;
/// How long the daemon may take to have every account streaming before the window starts.
const WARM_UP: Duration = Duration::from_secs(120);
const AMOUNT: i64 = 10_000_000;
/// Seeds the watched accounts apart from every other phase's.
const ACCOUNT_SEED: u64 = 0xACC0;

#[derive(Debug, Serialize)]
pub struct Row {
    pub accounts: usize,
    pub mode: String,
    /// Accounts streaming when the window began (all of them, unless the warm-up bound passed).
    pub streaming_at_start: u64,
    pub warm_up_seconds: f64,
    pub window_seconds: f64,
    /// The most connections the daemon held at once (sampled every second).
    pub max_connections: i64,
    pub pool_size: usize,
    pub requests_per_hour: f64,
    /// Of which stream opens.
    pub stream_opens_per_hour: f64,
    /// One credit per ledger per open stream (Horizon charges streams per new ledger): the
    /// streams the daemon held times the ledgers closed, per hour.
    pub stream_credits_per_hour: f64,
    pub streams: usize,
    pub memory: Memory,
    pub latency: Latency,
    /// Payments to watched sessions sent in the window, and how many were paid by its end.
    pub credits_sent: usize,
    pub credits_paid: usize,
}

pub async fn measure(
    sim: &HorizonSim,
    horizon: &str,
    dir: &Path,
    payer: AccountId,
    plan: &Plan,
) -> anyhow::Result<(Vec<Row>, Vec<String>)> {
    let mut rows = Vec::new();
    let strangers: Vec<AccountId> = (0..1_000).map(|i| derive_account(0x57A, i)).collect();
    for mode in &plan.modes {
        for &n in &plan.sizes {
            rows.push(one(sim, horizon, dir, payer, &strangers, n, mode, plan).await?);
        }
    }
    Ok((rows, Vec::new()))
}

#[allow(clippy::too_many_arguments)]
async fn one(
    sim: &HorizonSim,
    horizon: &str,
    dir: &Path,
    payer: AccountId,
    strangers: &[AccountId],
    n: usize,
    mode: &str,
    plan: &Plan,
) -> anyhow::Result<Row> {
    crate::say(format!("accounts: {n} watched, mode {mode}"));
    let watched: Vec<AccountId> = (0..n as u64)
        .map(|i| derive_account(ACCOUNT_SEED + n as u64, i))
        .collect();
    for a in &watched {
        sim.register_account(*a);
    }
    let db = TestDb::new().await;
    let sql = connect(db.url()).await?;
    let start = orbitpay::config::now_token(sim.latest_ledger());
    for chunk in watched.chunks(1_000) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|a| format!("('{a}', '{start}', {start}, 'api')"))
            .collect();
        sql.batch_execute(&format!(
            "INSERT INTO watched_accounts (address, start_cursor, start_token, added_by) VALUES {}",
            rows.join(",")
        ))
        .await?;
    }
    // One session per watched payment of the window: session k on account k mod n.
    let ledgers = (plan.window.as_secs_f64() / LEDGER_INTERVAL.as_secs_f64()).ceil() as usize + 1;
    let sessions = ledgers * WATCHED_PER_LEDGER;
    for (i, a) in watched.iter().enumerate().take(sessions) {
        // Account i holds sessions i+1, i+1+n, ...: one statement per account.
        let refs: Vec<i64> = (i + 1..=sessions).step_by(n).map(|k| k as i64).collect();
        sql.execute(
            "INSERT INTO sessions (account, reference, asset, amount, expires_at)
             SELECT $1, r::numeric, 'native', $3, now() + interval '7 days' FROM unnest($2::int8[]) r",
            &[&a.to_string(), &refs, &AMOUNT],
        )
        .await?;
    }
    sql.batch_execute(PAID_TRIGGER).await?;
    let (listener, mut paid) = listen(db.url(), PAID_CHANNEL).await?;
    let ours: Vec<i32> = vec![
        sql.query_one("SELECT pg_backend_pid()", &[]).await?.get(0),
        listener
            .query_one("SELECT pg_backend_pid()", &[])
            .await?
            .get(0),
    ];

    // The production leader_retry: 200 ms (the other phases') bounds the leadership
    // connection's silence to 800 ms, which a daemon busy starting thousands of followers can
    // pass (PostgreSQL then ends it and every ingestion stops).
    let leader_retry = orbitpay::config::Config::default().ingest.leader_retry;
    let extra = vec![
        "--pool-size".to_owned(),
        plan.pool_size.to_string(),
        "--leader-retry-ms".to_owned(),
        leader_retry.as_millis().to_string(),
        "--ingest-mode".to_owned(),
        mode.to_owned(),
    ];
    let daemon = Daemon::start_with(
        db.url(),
        horizon,
        dir,
        &format!("accounts{n}-{mode}"),
        &[],
        None,
        &extra,
    )
    .await?;
    let warm = Instant::now();
    let client = orbitpay_cli::Client::new(&daemon.socket)?;
    let mut streaming = 0;
    let mut by_state = serde_json::Value::Null;
    while warm.elapsed() < WARM_UP {
        let status = client
            .get("/v1/status")
            .await?
            .json()
            .context("/v1/status is not JSON")?;
        by_state = status["accounts"]["by_state"].clone();
        streaming = status["accounts"]["by_state"]["streaming"]
            .as_u64()
            .unwrap_or(0);
        if streaming as usize >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let warm_up = warm.elapsed();
    crate::say(format!(
        "accounts: {streaming}/{n} streaming after {:.1} s ({by_state})",
        warm_up.as_secs_f64()
    ));

    sim.clear_requests();
    let window = Instant::now();
    let mut samples = Vec::new();
    let mut max_connections = 0i64;
    let mut sent = 0usize;
    let mut next_session = 1usize;
    let mut pending: std::collections::HashMap<String, Instant> = Default::default();
    let mut tick = tokio::time::interval(LEDGER_INTERVAL);
    let mut sample = tokio::time::interval(Duration::from_secs(1));
    let mut ledgers_closed = 0u64;
    let mut stranger = 0usize;
    while window.elapsed() < plan.window {
        tokio::select! {
            _ = tick.tick() => {
                let mut txs = Vec::with_capacity(PAYMENTS_PER_LEDGER);
                let mut refs = Vec::with_capacity(WATCHED_PER_LEDGER);
                for i in 0..PAYMENTS_PER_LEDGER {
                    if i % (PAYMENTS_PER_LEDGER / WATCHED_PER_LEDGER) == 0 && next_session <= sessions {
                        let k = next_session;
                        next_session += 1;
                        let to = watched[(k - 1) % n];
                        refs.push(k.to_string());
                        txs.push(Tx::new(payer).memo(Memo::Id(k as u64)).op(Op::payment(
                            payer, to, Asset::Native, stroops(AMOUNT),
                        )));
                    } else {
                        let from = strangers[stranger % strangers.len()];
                        let to = strangers[(stranger * 7 + 1) % strangers.len()];
                        stranger += 1;
                        txs.push(Tx::new(from).op(Op::payment(from, to, Asset::Native, stroops(AMOUNT))));
                    }
                }
                // The ledger event: closed, its records pushed to the open streams.
                sim.close_ledger(txs);
                let closed_at = Instant::now();
                ledgers_closed += 1;
                sent += refs.len();
                pending.extend(refs.into_iter().map(|r| (r, closed_at)));
            }
            _ = sample.tick() => {
                let count: i64 = sql
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity
                         WHERE datname = current_database() AND NOT (pid = ANY($1))",
                        &[&ours],
                    )
                    .await?
                    .get(0);
                max_connections = max_connections.max(count);
            }
            got = paid.recv() => {
                let (at, reference) = got.context("the listener ended")?;
                if let Some(t0) = pending.remove(&reference) {
                    samples.push(at.saturating_duration_since(t0));
                }
            }
        }
    }
    let elapsed = window.elapsed();
    let requests = sim.requests();
    let memory = daemon.memory()?;
    // What was sent is paid: wait a little for the last ledger's credits.
    let drain = Instant::now() + Duration::from_secs(10);
    while !pending.is_empty() && Instant::now() < drain {
        if let Ok(Some((at, reference))) =
            tokio::time::timeout(Duration::from_millis(200), paid.recv()).await
            && let Some(t0) = pending.remove(&reference)
        {
            samples.push(at.saturating_duration_since(t0));
        }
    }
    daemon.stop().await?;
    let credits_paid = samples.len();
    paid_at_most_once(&sql, credits_paid).await?;

    let per_hour = |count: usize| count as f64 * 3600.0 / elapsed.as_secs_f64();
    let is_stream = |k: RouteKind| {
        matches!(
            k,
            RouteKind::AccountPaymentsStream | RouteKind::PaymentsStream
        )
    };
    let stream_opens = requests.iter().filter(|r| is_stream(r.kind)).count();
    // Streams held: every account (or the network) with a stream open in the window, the
    // ones opened before it included (their reconnects show in the window at ~55 s).
    let streams: HashSet<&str> = requests
        .iter()
        .filter(|r| is_stream(r.kind))
        .map(|r| r.path.as_str())
        .collect();
    let streams = streams.len().max(if mode == "network" {
        1
    } else {
        streaming as usize
    });
    Ok(Row {
        accounts: n,
        mode: mode.to_owned(),
        streaming_at_start: streaming,
        warm_up_seconds: warm_up.as_secs_f64(),
        window_seconds: elapsed.as_secs_f64(),
        max_connections,
        pool_size: plan.pool_size,
        requests_per_hour: per_hour(requests.len()),
        stream_opens_per_hour: per_hour(stream_opens),
        stream_credits_per_hour: streams as f64 * ledgers_closed as f64 * 3600.0
            / elapsed.as_secs_f64(),
        streams,
        memory,
        latency: Latency::of(samples),
        credits_sent: sent,
        credits_paid,
    })
}

/// No operation credited twice, and every session seen paid holds exactly its one payment.
async fn paid_at_most_once(sql: &tokio_postgres::Client, paid: usize) -> anyhow::Result<()> {
    let row = sql
        .query_one(
            "SELECT (SELECT count(*) FROM sessions WHERE status = 'paid' AND amount_received = amount),
                    (SELECT count(*) FROM sessions WHERE amount_received > amount),
                    (SELECT count(*) FROM (SELECT session_id FROM payments
                       GROUP BY session_id HAVING count(*) > 1) twice)",
            &[],
        )
        .await?;
    let (exact, over, twice): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    anyhow::ensure!(
        over == 0 && twice == 0,
        "{over} sessions over-credited, {twice} paid twice"
    );
    anyhow::ensure!(
        exact as usize >= paid,
        "{paid} sessions seen paid, {exact} paid exactly in the table"
    );
    Ok(())
}
