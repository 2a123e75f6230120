//! The daemon's measurements: live latency and session creation over the admin socket (the
//! catch-up and scale runs are in `main.rs`, where their fixtures are built).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use orbitpay_cli::Client as AdminClient;
use orbitpay_core::AccountId;
use orbitpay_horizon_sim::HorizonSim;
use serde_json::json;

use crate::fixture::{listen, payment};
use crate::stats::{Latency, Load, Throughput};

/// The NOTIFY the bench's trigger sends when a session becomes `paid`: delivered to listeners
/// when the paying transaction commits, so its arrival is the commit, observed without polling.
pub const PAID_CHANNEL: &str = "bench_paid";

pub const PAID_TRIGGER: &str = "
CREATE OR REPLACE FUNCTION bench_paid_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bench_paid', NEW.reference::text);
    RETURN NULL;
END $$;
CREATE TRIGGER bench_paid AFTER UPDATE ON sessions FOR EACH ROW
    WHEN (NEW.status = 'paid' AND OLD.status <> 'paid') EXECUTE FUNCTION bench_paid_notify();";

pub const DROP_PAID_TRIGGER: &str = "DROP TRIGGER IF EXISTS bench_paid ON sessions";

/// Background payments while the probes run: a ledger every 10 ms, for at most 20 s.
pub struct Background {
    pub references: Vec<u64>,
    pub per_second: usize,
}

#[derive(Debug, serde::Serialize)]
pub struct Live {
    pub latency: Latency,
    /// The background load actually offered.
    pub background: Option<Throughput>,
    /// A probe was not paid within 10 s: the daemon fell behind the load, and the remaining
    /// probes were not sent.
    pub saturated: bool,
    /// Every session this phase paid (probes and background), for the correctness check.
    #[serde(skip)]
    pub paid: Vec<i64>,
}

/// Pays each probe session in a ledger of its own, one at a time, and times the simulator
/// writing the event to the paying transaction's commit (its NOTIFY arriving).
pub async fn live_latency(
    sim: &HorizonSim,
    db_url: &str,
    payer: AccountId,
    shop: AccountId,
    probes: &[u64],
    amount: i64,
    background: Option<Background>,
) -> anyhow::Result<Live> {
    let (_listener, mut paid) = listen(db_url, PAID_CHANNEL).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let load = background.map(|bg| {
        let (sim, stop) = (sim.clone(), stop.clone());
        tokio::spawn(async move {
            let per_tick = (bg.per_second / 100).max(1);
            let started = Instant::now();
            let mut sent = 0usize;
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            for chunk in bg.references.chunks(per_tick).take(2_000) {
                tick.tick().await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                sim.close_ledger(
                    chunk
                        .iter()
                        .map(|r| payment(payer, shop, *r, amount))
                        .collect(),
                );
                sent += chunk.len();
            }
            let offered = Throughput::new(sent as u64, started.elapsed());
            (offered, bg.references[..sent].to_vec())
        })
    });
    // Let the background reach its rate before probing.
    if load.is_some() {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut samples = Vec::with_capacity(probes.len());
    let mut saturated = false;
    let mut sent: Vec<i64> = Vec::new();
    'probes: for reference in probes {
        let want = reference.to_string();
        while paid.try_recv().is_ok() {}
        let t0 = Instant::now();
        sim.close_ledger(vec![payment(payer, shop, *reference, amount)]);
        sent.push(i64::try_from(*reference)?);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let Ok(got) = tokio::time::timeout_at(deadline, paid.recv()).await else {
                saturated = true;
                break 'probes;
            };
            let (at, payload) = got.context("the listener ended")?;
            if payload == want {
                samples.push(at - t0);
                break;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let background = match load {
        Some(task) => {
            let (offered, refs) = task.await?;
            sent.extend(refs.iter().map(|r| *r as i64));
            Some(offered)
        }
        None => None,
    };
    Ok(Live {
        latency: Latency::of(samples),
        background,
        saturated,
        paid: sent,
    })
}

/// `POST /v1/sessions` over the admin socket, `concurrency` requests in flight.
pub async fn create_over_socket(
    socket: &std::path::Path,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<Load> {
    let client = AdminClient::new(socket)?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, next) = (client.clone(), next.clone());
            tokio::spawn(async move {
                let body = json!({"amount": "10", "asset": "native"});
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        break;
                    }
                    let key = format!("bench-{concurrency}-{i}");
                    let t0 = Instant::now();
                    let r = client
                        .post_json("/v1/sessions", &[("Idempotency-Key", &key)], &body)
                        .await?;
                    latencies.push(t0.elapsed());
                    anyhow::ensure!(
                        r.status == 201,
                        "session creation answered {}: {}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    );
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(Load {
        concurrency,
        throughput: Throughput::new(all.len() as u64, started.elapsed()),
        latency: Latency::of(all),
    })
}
