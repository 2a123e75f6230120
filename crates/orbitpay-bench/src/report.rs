//! The run's results: `bench.json` (everything) and `bench.txt` (the table, ratios and
//! targets), also printed.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::child::Memory;
use crate::fixture::CheckResult;
use crate::pages::PagesReport;
use crate::phases::Live;
use crate::stats::{Load, Throughput};
use crate::webhooks::WebhookReport;

#[derive(Debug, Serialize)]
pub struct Catchup {
    pub throughput: Throughput,
    /// `peak_kib` is the peak over the daemon's life so far: catch-up is all it did.
    pub memory: Memory,
    pub check: CheckResult,
}

#[derive(Debug, Serialize)]
pub struct Scale {
    pub pending: i64,
    pub seed_seconds: f64,
    pub throughput: Throughput,
    pub memory: Memory,
    pub check: CheckResult,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_kib: u64,
    pub kernel: String,
    pub postgres: String,
}

pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_owned();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        memory_kib,
        kernel,
        postgres: String::new(),
    }
}

/// The catch-up's same-run baselines.
#[derive(Debug, Serialize)]
pub struct CatchupBaselines {
    pub naive: Throughput,
    pub per_payment8: Throughput,
    pub bulk_1: Throughput,
    pub bulk_2: Throughput,
}

#[derive(Debug, Serialize)]
pub struct LiveReport {
    pub idle: Live,
    pub loaded: Live,
    pub check: CheckResult,
}

/// Session creation over the socket and the create-SQL baseline, at concurrency 1 and 32.
#[derive(Debug, Serialize)]
pub struct Creation {
    pub socket: [Load; 2],
    pub sql: [Load; 2],
}

/// What ran (`--only` leaves phases out: `None`, or no scale cases).
#[derive(Debug, Serialize)]
pub struct Report {
    pub smoke: bool,
    pub command: String,
    pub machine: Machine,
    pub catchup: Option<Catchup>,
    pub baselines: Option<CatchupBaselines>,
    pub live: Option<LiveReport>,
    pub creation: Option<Creation>,
    pub idle_memory: Option<Memory>,
    pub after_memory: Memory,
    pub scale: Vec<Scale>,
    pub webhooks: Option<WebhookReport>,
    pub pages: Option<PagesReport>,
    pub accounts: Vec<crate::accounts::Row>,
    /// Modes the daemon does not know yet, each with why.
    pub accounts_skipped: Vec<String>,
    pub seconds: f64,
}

/// Megabytes (10^6 bytes), the unit the targets are stated in.
fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

impl Report {
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "orbitpay bench{}",
            if self.smoke {
                " (smoke: timings not asserted)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            t,
            "machine: {} ({} cores, {:.1} GB), kernel {}",
            self.machine.cpu,
            self.machine.cores,
            mb(self.machine.memory_kib) / 1000.0,
            self.machine.kernel
        );
        let _ = writeln!(t, "command: {}", self.command);
        let _ = writeln!(t);
        let _ = writeln!(t, "| Figure | orbitpay | Same-run baseline | Ratio |");
        let _ = writeln!(t, "|---|---|---|---|");
        if let (Some(catchup), Some(b)) = (&self.catchup, &self.baselines) {
            let c = catchup.throughput.per_second;
            let ratio = |base: f64| c / base.max(1e-9);
            let _ = writeln!(
                t,
                "| Catch-up, {} pending sessions paid | {:.0} payments/s ({:.2} s) | naive watcher {:.0}/s ({} payments) | daemon/naive {:.1}x |",
                catchup.throughput.count,
                c,
                catchup.throughput.seconds,
                b.naive.per_second,
                b.naive.count,
                ratio(b.naive.per_second)
            );
            let _ = writeln!(
                t,
                "| | | per-payment SQL, 8 clients {:.0}/s ({} payments) | daemon/per-payment {:.2}x |",
                b.per_payment8.per_second,
                b.per_payment8.count,
                ratio(b.per_payment8.per_second)
            );
            let _ = writeln!(
                t,
                "| | | bulk SQL (200 per commit pair), 1 client {:.0}/s | daemon/bulk {:.2} |",
                b.bulk_1.per_second,
                ratio(b.bulk_1.per_second)
            );
            let _ = writeln!(
                t,
                "| | | bulk SQL, 2 clients {:.0}/s | daemon/bulk(2) {:.2} |",
                b.bulk_2.per_second,
                ratio(b.bulk_2.per_second)
            );
        }
        if let Some(live) = &self.live {
            for (name, live) in [("idle", &live.idle), ("under load", &live.loaded)] {
                let l = &live.latency;
                let load = live
                    .background
                    .map(|b| format!(", background {:.0} payments/s", b.per_second))
                    .unwrap_or_default();
                let saturated = if live.saturated {
                    "; SATURATED: a probe waited > 10 s, the rest were not sent"
                } else {
                    ""
                };
                let _ = writeln!(
                    t,
                    "| Live, event to paid commit, {name} ({} probes{load}) | p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms{saturated} | | |",
                    l.samples, l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms
                );
            }
        }
        if let Some(creation) = &self.creation {
            for (s, b) in creation.socket.iter().zip(&creation.sql) {
                let _ = writeln!(
                    t,
                    "| Session creation over the socket, concurrency {} | {:.0}/s, p50 {:.2} ms, p99 {:.2} ms | create SQL {:.0}/s, mean {:.2} ms, p99 {:.2} ms | {:.2} |",
                    s.concurrency,
                    s.throughput.per_second,
                    s.latency.p50_ms,
                    s.latency.p99_ms,
                    b.throughput.per_second,
                    b.latency.mean_ms,
                    b.latency.p99_ms,
                    s.throughput.per_second / b.throughput.per_second.max(1e-9)
                );
            }
        }
        if let (Some(idle), Some(catchup)) = (&self.idle_memory, &self.catchup) {
            let _ = writeln!(
                t,
                "| Memory | RSS idle {:.1} MB; peak during catch-up {:.1} MB; after all phases {:.1} MB (peak {:.1}) | | |",
                mb(idle.rss_kib),
                mb(catchup.memory.peak_kib),
                mb(self.after_memory.rss_kib),
                mb(self.after_memory.peak_kib)
            );
        }
        for s in &self.scale {
            let _ = writeln!(
                t,
                "| Scale: {} pending sessions, {} partial payments | {:.0} payments/s ({:.2} s; peak RSS {:.1} MB) | | |",
                s.pending,
                s.throughput.count,
                s.throughput.per_second,
                s.throughput.seconds,
                mb(s.memory.peak_kib)
            );
        }
        if let Some(w) = &self.webhooks {
            w.rows(&mut t);
        }
        if let Some(p) = &self.pages {
            p.rows(&mut t);
        }
        if !self.accounts.is_empty() || !self.accounts_skipped.is_empty() {
            self.accounts_table(&mut t);
        }
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "Correctness: every session each phase and baseline that ran paid is paid exactly once (checked){}.",
            self.webhooks
                .as_ref()
                .map(|w| format!(
                    "; each of the {} session.paid webhooks arrived (distinct webhook-ids)",
                    w.paid_sessions
                ))
                .unwrap_or_default()
        );
        let _ = writeln!(t);
        if !self.smoke {
            let _ = writeln!(t, "Targets:");
            self.targets(&mut t);
        }
        let _ = writeln!(t, "run took {:.0} s", self.seconds);
        t
    }

    fn accounts_table(&self, t: &mut String) {
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "| Accounts | Mode | Streaming at start (warm-up) | Max DB connections (pool) | Horizon requests/h (stream opens/h) | Stream credits/h (streams) | RSS (peak) | Credit p50 / p99 / max | Credits paid |"
        );
        let _ = writeln!(t, "|---|---|---|---|---|---|---|---|---|");
        for r in &self.accounts {
            let _ = writeln!(
                t,
                "| {} | {} | {} ({:.0} s) | {} ({}) | {:.0} ({:.0}) | {:.0} ({}) | {:.1} MB ({:.1}) | {:.1} / {:.1} / {:.1} ms | {}/{} |",
                r.accounts,
                r.mode,
                r.streaming_at_start,
                r.warm_up_seconds,
                r.max_connections,
                r.pool_size,
                r.requests_per_hour,
                r.stream_opens_per_hour,
                r.stream_credits_per_hour,
                r.streams,
                mb(r.memory.rss_kib),
                mb(r.memory.peak_kib),
                r.latency.p50_ms,
                r.latency.p99_ms,
                r.latency.max_ms,
                r.credits_paid,
                r.credits_sent
            );
        }
        for line in &self.accounts_skipped {
            let _ = writeln!(t, "{line}");
        }
    }

    fn accounts_targets(&self, t: &mut String) {
        for r in &self.accounts {
            let _ = writeln!(
                t,
                "- {} accounts, {}: connections <= pool_size + 2: {} -> {}",
                r.accounts,
                r.mode,
                r.max_connections,
                verdict(r.max_connections <= r.pool_size as i64 + 2)
            );
        }
        let at = |mode: &str, n: usize| {
            self.accounts
                .iter()
                .find(|r| r.mode == mode && r.accounts == n)
        };
        for mode in ["per_account", "network"] {
            if let Some(r) = at(mode, 10_000) {
                let _ = writeln!(
                    t,
                    "- 10,000 accounts, {mode}: RSS <= 100 MB: {:.1} MB -> {}; credit p99 <= 50 ms: {:.1} ms -> {}",
                    mb(r.memory.rss_kib),
                    verdict(mb(r.memory.rss_kib) <= 100.0),
                    r.latency.p99_ms,
                    verdict(r.latency.p99_ms <= 50.0 && r.credits_paid == r.credits_sent)
                );
            }
        }
        if let (Some(small), Some(big)) = (at("network", 1_000), at("network", 10_000)) {
            let r = big.requests_per_hour / small.requests_per_hour.max(1e-9);
            let _ = writeln!(
                t,
                "- network requests/h within 10% from 1,000 to 10,000: {:.0}% -> {}",
                r * 100.0,
                verdict((0.9..=1.1).contains(&r))
            );
        }
    }

    fn targets(&self, t: &mut String) {
        self.accounts_targets(t);
        if let (Some(catchup), Some(b)) = (&self.catchup, &self.baselines) {
            let c = catchup.throughput.per_second;
            let bulk = c / b.bulk_1.per_second.max(1e-9);
            let _ = writeln!(
                t,
                "- catch-up >= 50% of bulk (1 client): {:.0}% -> {}",
                bulk * 100.0,
                verdict(bulk >= 0.5)
            );
            let naive = c / b.naive.per_second.max(1e-9);
            let _ = writeln!(
                t,
                "- catch-up >= 20x naive: {naive:.1}x -> {}",
                verdict(naive >= 20.0)
            );
        }
        if let Some(live) = &self.live {
            let (idle, loaded) = (&live.idle.latency, &live.loaded.latency);
            let met = idle.p99_ms.max(loaded.p99_ms) <= 5.0 && !live.loaded.saturated;
            let _ = writeln!(
                t,
                "- live p99 <= 5 ms: idle {:.2} ms, loaded {:.2} ms{} -> {}",
                idle.p99_ms,
                loaded.p99_ms,
                if live.loaded.saturated {
                    " (saturated)"
                } else {
                    ""
                },
                verdict(met)
            );
        }
        if let Some(creation) = &self.creation {
            let (s, b) = (&creation.socket[1], &creation.sql[1]);
            let share = s.throughput.per_second / b.throughput.per_second.max(1e-9);
            let _ = writeln!(
                t,
                "- creation at 32 >= 60% of create SQL: {:.0}% -> {}",
                share * 100.0,
                verdict(share >= 0.6)
            );
            let bound = 3.0 * b.latency.mean_ms;
            let _ = writeln!(
                t,
                "- creation p99 at 32 <= 3x create SQL mean ({bound:.2} ms): {:.2} ms -> {}",
                s.latency.p99_ms,
                verdict(s.latency.p99_ms <= bound)
            );
        }
        if let (Some(idle), Some(catchup)) = (&self.idle_memory, &self.catchup) {
            let (idle, peak) = (mb(idle.rss_kib), mb(catchup.memory.peak_kib));
            let _ = writeln!(
                t,
                "- idle RSS <= 20 MB: {idle:.1} MB -> {}; peak <= 100 MB: {peak:.1} MB -> {}",
                verdict(idle <= 20.0),
                verdict(peak <= 100.0)
            );
        }
        if let Some(p) = &self.pages {
            p.target(t);
        }
        match &self.scale[..] {
            [small, big] => {
                let r = big.throughput.per_second / small.throughput.per_second.max(1e-9);
                let _ = writeln!(
                    t,
                    "- 1M-session throughput within 10% of 1k: {:.0}% -> {}",
                    r * 100.0,
                    verdict(r >= 0.9)
                );
            }
            [_] => {
                let _ = writeln!(t, "- 1M-session throughput: not run (pass --scale-1m)");
            }
            _ => {}
        }
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("bench.json"), serde_json::to_vec_pretty(self)?)?;
        let table = self.table();
        std::fs::write(dir.join("bench.txt"), &table)?;
        println!("{table}");
        eprintln!("[bench] wrote {}/bench.json and bench.txt", dir.display());
        Ok(())
    }
}
