//! Throughput and latency summaries.

use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Throughput {
    pub count: u64,
    pub seconds: f64,
    pub per_second: f64,
}

impl Throughput {
    pub fn new(count: u64, elapsed: Duration) -> Throughput {
        let seconds = elapsed.as_secs_f64();
        Throughput {
            count,
            seconds,
            per_second: count as f64 / seconds.max(1e-9),
        }
    }
}

/// Milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    pub samples: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(mut samples: Vec<Duration>) -> Latency {
        samples.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let at = |q: f64| {
            if samples.is_empty() {
                return 0.0;
            }
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            ms(samples[i])
        };
        let mean = if samples.is_empty() {
            0.0
        } else {
            samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64
        };
        Latency {
            samples: samples.len(),
            mean_ms: mean,
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: samples.last().map_or(0.0, |d| ms(*d)),
        }
    }
}

/// Requests per second with their latencies.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Load {
    pub concurrency: usize,
    pub throughput: Throughput,
    pub latency: Latency,
}
