//! The run's results: `bench.json` (everything) and `bench.txt` (the table, ratios and
//! targets), also printed.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::child::Memory;
use crate::fixture::CheckResult;
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

#[derive(Debug, Serialize)]
pub struct Report {
    pub smoke: bool,
    pub command: String,
    pub machine: Machine,
    pub catchup: Catchup,
    pub live_idle: Live,
    pub live_loaded: Live,
    pub live_check: CheckResult,
    /// Concurrency 1 and 32.
    pub create_socket: [Load; 2],
    pub create_sql: [Load; 2],
    pub idle_memory: Memory,
    pub after_memory: Memory,
    pub naive: Throughput,
    pub per_payment8: Throughput,
    pub bulk_1: Throughput,
    pub bulk_2: Throughput,
    pub scale: Vec<Scale>,
    pub webhooks: WebhookReport,
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
        let c = self.catchup.throughput.per_second;
        let ratio = |base: f64| c / base.max(1e-9);
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
        let _ = writeln!(
            t,
            "| Catch-up, {} pending sessions paid | {:.0} payments/s ({:.2} s) | naive watcher {:.0}/s ({} payments) | daemon/naive {:.1}x |",
            self.catchup.throughput.count,
            c,
            self.catchup.throughput.seconds,
            self.naive.per_second,
            self.naive.count,
            ratio(self.naive.per_second)
        );
        let _ = writeln!(
            t,
            "| | | per-payment SQL, 8 clients {:.0}/s ({} payments) | daemon/per-payment {:.2}x |",
            self.per_payment8.per_second,
            self.per_payment8.count,
            ratio(self.per_payment8.per_second)
        );
        let _ = writeln!(
            t,
            "| | | bulk SQL (200 per commit pair), 1 client {:.0}/s | daemon/bulk {:.2} |",
            self.bulk_1.per_second,
            ratio(self.bulk_1.per_second)
        );
        let _ = writeln!(
            t,
            "| | | bulk SQL, 2 clients {:.0}/s | daemon/bulk(2) {:.2} |",
            self.bulk_2.per_second,
            ratio(self.bulk_2.per_second)
        );
        for (name, live) in [("idle", &self.live_idle), ("under load", &self.live_loaded)] {
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
        for (s, b) in self.create_socket.iter().zip(&self.create_sql) {
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
        let _ = writeln!(
            t,
            "| Memory | RSS idle {:.1} MB; peak during catch-up {:.1} MB; after all phases {:.1} MB (peak {:.1}) | | |",
            mb(self.idle_memory.rss_kib),
            mb(self.catchup.memory.peak_kib),
            mb(self.after_memory.rss_kib),
            mb(self.after_memory.peak_kib)
        );
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
        let _ = writeln!(t, "| Webhook delivery | {} | | |", self.webhooks.note);
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "Correctness: {} catch-up sessions, {} live sessions, and every baseline's and scale run's sessions paid exactly once (checked).",
            self.catchup.check.paid, self.live_check.paid
        );
        let _ = writeln!(t);
        if !self.smoke {
            let _ = writeln!(t, "Targets:");
            let bulk = ratio(self.bulk_1.per_second);
            let _ = writeln!(
                t,
                "- catch-up >= 50% of bulk (1 client): {:.0}% -> {}",
                bulk * 100.0,
                verdict(bulk >= 0.5)
            );
            let naive = ratio(self.naive.per_second);
            let _ = writeln!(
                t,
                "- catch-up >= 20x naive: {naive:.1}x -> {}",
                verdict(naive >= 20.0)
            );
            let (idle, loaded) = (&self.live_idle.latency, &self.live_loaded.latency);
            let met = idle.p99_ms.max(loaded.p99_ms) <= 5.0 && !self.live_loaded.saturated;
            let _ = writeln!(
                t,
                "- live p99 <= 5 ms: idle {:.2} ms, loaded {:.2} ms{} -> {}",
                idle.p99_ms,
                loaded.p99_ms,
                if self.live_loaded.saturated {
                    " (saturated)"
                } else {
                    ""
                },
                verdict(met)
            );
            let (s, b) = (&self.create_socket[1], &self.create_sql[1]);
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
            let (idle, peak) = (
                mb(self.idle_memory.rss_kib),
                mb(self.catchup.memory.peak_kib),
            );
            let _ = writeln!(
                t,
                "- idle RSS <= 20 MB: {idle:.1} MB -> {}; peak <= 100 MB: {peak:.1} MB -> {}",
                verdict(idle <= 20.0),
                verdict(peak <= 100.0)
            );
            if let [small, big] = &self.scale[..] {
                let r = big.throughput.per_second / small.throughput.per_second.max(1e-9);
                let _ = writeln!(
                    t,
                    "- 1M-session throughput within 10% of 1k: {:.0}% -> {}",
                    r * 100.0,
                    verdict(r >= 0.9)
                );
            } else {
                let _ = writeln!(t, "- 1M-session throughput: not run (pass --scale-1m)");
            }
        }
        let _ = writeln!(t, "run took {:.0} s", self.seconds);
        t
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
