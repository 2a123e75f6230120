//! Webhook delivery: the daemon, with its dispatcher pointed at a loopback receiver
//! (`orbitpay_testkit::receiver`, answering 200 at once), on a fresh database of its own (the
//! default endpoint it registers would otherwise fan out every other phase's events).
//!
//! - **Latency**: probe sessions are paid one at a time; each is timed from its paid commit
//!   (the `bench_paid` NOTIFY, as in the live phase) to its `session.paid` webhook arriving.
//! - **Throughput**: then the other sessions are paid at once (ledgers of 100); events per
//!   second from the first of those ledgers to the last of their webhooks.
//! - **Correctness**: every event in the outbox arrived, deduplicated by `webhook-id`, and each
//!   session's `session.paid` among them; duplicates (a redelivered id) are counted, not hidden.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use orbitpay::config::now_token;
use orbitpay_core::AccountId;
use orbitpay_horizon_sim::HorizonSim;
use orbitpay_testkit::TestDb;
use orbitpay_testkit::receiver::Receiver;
use serde::Serialize;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::child::{Daemon, WebhookTarget};
use crate::fixture::{
    Expect, check_paid_once, connect, listen, pay_all, payment, seed_sessions, settle_seeded,
};
use crate::phases::{DROP_PAID_TRIGGER, PAID_CHANNEL, PAID_TRIGGER};
use crate::stats::{Latency, Throughput};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Stroops per session (and payment).
const AMOUNT: i64 = 10_000_000;

#[derive(Debug, Clone, Serialize)]
pub struct WebhookReport {
    /// Paid commit to the `session.paid` webhook arriving, one probe at a time.
    pub latency: Latency,
    /// Every event of the sessions paid at once, to the receiver.
    pub throughput: Throughput,
    /// The paid-commit-to-webhook latency of those sessions (queueing included).
    pub burst_latency: Latency,
    pub paid_sessions: usize,
    /// Distinct `webhook-id`s received: every event in the outbox.
    pub events: usize,
    /// Requests that repeated a `webhook-id` already received.
    pub duplicates: usize,
}

impl WebhookReport {
    pub fn rows(&self, t: &mut String) {
        use std::fmt::Write as _;
        let l = &self.latency;
        let _ = writeln!(
            t,
            "| Webhook delivery, paid commit to session.paid webhook ({} probes, one at a time) | p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms | | |",
            l.samples, l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms
        );
        let b = &self.burst_latency;
        let _ = writeln!(
            t,
            "| Webhook delivery, {} events of {} sessions paid at once | {:.0} events/s ({:.2} s); paid to webhook p50 {:.0} ms, p99 {:.0} ms; {} duplicate ids | | |",
            self.throughput.count,
            b.samples,
            self.throughput.per_second,
            self.throughput.seconds,
            b.p50_ms,
            b.p99_ms,
            self.duplicates
        );
    }
}

/// What the receiver saw: each request's arrival, `webhook-id`, type and session reference.
struct Arrival {
    at: Instant,
    id: String,
    event_type: String,
    reference: Option<String>,
}

/// Every arrival so far, and the first arrival of each `session.paid` by session reference.
#[derive(Default)]
struct Arrivals {
    ids: HashSet<String>,
    duplicates: usize,
    paid: HashMap<String, Instant>,
    last: Option<Instant>,
}

impl Arrivals {
    fn take(&mut self, a: Arrival) {
        if !self.ids.insert(a.id) {
            self.duplicates += 1;
            return;
        }
        self.last = Some(a.at);
        if a.event_type == "session.paid"
            && let Some(r) = a.reference
        {
            self.paid.entry(r).or_insert(a.at);
        }
    }
}

pub async fn measure(
    sim: &HorizonSim,
    horizon: &str,
    dir: &Path,
    payer: AccountId,
    shop: AccountId,
    probes: i64,
    burst: i64,
) -> anyhow::Result<WebhookReport> {
    crate::say(format!(
        "webhooks: {probes} probes, then {burst} sessions paid at once"
    ));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let receiver = Receiver::start(move |got| {
        let at = Instant::now();
        let body = got.json();
        let _ = tx.send(Arrival {
            at,
            id: got.id(),
            event_type: body["type"].as_str().unwrap_or_default().to_owned(),
            reference: body["data"]["session"]["reference"]
                .as_str()
                .map(str::to_owned),
        });
        (200, Duration::ZERO)
    })
    .await;
    let db = TestDb::new().await;
    let sql = connect(db.url()).await?;
    let total = probes + burst;
    seed_sessions(&sql, &shop, 1, total, AMOUNT).await?;
    settle_seeded(&sql).await?;
    sql.batch_execute(PAID_TRIGGER).await?;
    let (_listener, mut commits) = listen(db.url(), PAID_CHANNEL).await?;
    let daemon = Daemon::start(
        db.url(),
        horizon,
        dir,
        "webhooks",
        &[(shop.to_string(), now_token(sim.latest_ledger()))],
        Some(WebhookTarget {
            url: &receiver.url,
            secret: SECRET,
        }),
    )
    .await?;

    let mut seen = Arrivals::default();
    let mut committed: HashMap<String, Instant> = HashMap::new();
    let mut samples = Vec::new();
    for reference in 1..=probes {
        let want = reference.to_string();
        sim.close_ledger(vec![payment(payer, shop, reference as u64, AMOUNT)]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !seen.paid.contains_key(&want) || !committed.contains_key(&want) {
            next(&mut rx, &mut commits, &mut seen, &mut committed, deadline).await?;
        }
        samples.push(seen.paid[&want] - committed[&want]);
    }

    let started = Instant::now();
    let before = seen.ids.len();
    pay_all(
        sim,
        payer,
        shop,
        (probes + 1..=total).map(|r| r as u64),
        AMOUNT,
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    while seen.paid.len() < total as usize || committed.len() < total as usize {
        next(&mut rx, &mut commits, &mut seen, &mut committed, deadline).await?;
    }
    // The burst's other events (session.processing) may trail its last session.paid.
    let events: i64 = sql
        .query_one("SELECT count(*) FROM outbox_events", &[])
        .await?
        .get(0);
    while seen.ids.len() < events as usize {
        next(&mut rx, &mut commits, &mut seen, &mut committed, deadline).await?;
    }
    let last = seen.last.context("no webhook arrived")?;
    let throughput = Throughput::new((seen.ids.len() - before) as u64, last - started);
    let burst_samples = (probes + 1..=total)
        .map(|r| {
            let r = r.to_string();
            seen.paid[&r].saturating_duration_since(committed[&r])
        })
        .collect();
    daemon.stop().await?;
    sql.batch_execute(DROP_PAID_TRIGGER).await?;
    check_paid_once(
        &sql,
        &shop,
        &Expect {
            references: (1..=total).collect(),
            ops_per_session: 1,
            events: true,
        },
    )
    .await?;
    let undelivered: i64 = sql
        .query_one(
            "SELECT count(*) FROM webhook_deliveries WHERE state <> 'delivered'",
            &[],
        )
        .await?
        .get(0);
    anyhow::ensure!(
        undelivered == 0 && seen.ids.len() == events as usize,
        "{undelivered} deliveries not delivered; {} distinct webhook-ids for {events} events",
        seen.ids.len()
    );
    Ok(WebhookReport {
        latency: Latency::of(samples),
        throughput,
        burst_latency: Latency::of(burst_samples),
        paid_sessions: seen.paid.len(),
        events: seen.ids.len(),
        duplicates: seen.duplicates,
    })
}

/// Waits for the next webhook or paid commit, whichever comes first.
async fn next(
    rx: &mut UnboundedReceiver<Arrival>,
    commits: &mut UnboundedReceiver<(Instant, String)>,
    seen: &mut Arrivals,
    committed: &mut HashMap<String, Instant>,
    deadline: Instant,
) -> anyhow::Result<()> {
    let wait = tokio::time::timeout_at(deadline.into(), async {
        tokio::select! {
            a = rx.recv() => a.map(|a| seen.take(a)).context("the receiver ended"),
            c = commits.recv() => c.map(|(at, r)| {
                committed.entry(r).or_insert(at);
            }).context("the listener ended"),
        }
    });
    wait.await.context(format!(
        "webhooks: {} session.paid webhooks and {} paid commits seen when the wait ran out",
        seen.paid.len(),
        committed.len()
    ))?
}
