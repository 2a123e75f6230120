//! What each job's runs did: the last run of every job (for `/v1/status` and `orbitpay
//! status`), and the metrics (runs by outcome, duration, items by action).
//!
//! Per instance: several instances each report their own runs (a run that found nothing to do
//! because another instance took the rows is an ordinary run here).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use metrics::{Unit, describe_counter, describe_histogram};

/// What one run did, counted by action (`settled`, `released`, `expired`, `deleted_events` ...),
/// plus free-text notes an operator needs (why sessions wait to expire).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub counts: BTreeMap<&'static str, u64>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn add(&mut self, action: &'static str, n: u64) {
        *self.counts.entry(action).or_default() += n;
    }

    pub fn count(&self, action: &str) -> u64 {
        self.counts.get(action).copied().unwrap_or(0)
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Stopped at a safe point by shutdown; what it did is committed.
    Stopped,
    Failed,
    /// The previous run of this job in this process was still going: this tick did nothing.
    Overlapped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Stopped => "stopped",
            Outcome::Failed => "failed",
            Outcome::Overlapped => "overlapped",
        }
    }
}

/// The last run of one job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRun {
    pub job: &'static str,
    pub started_at: DateTime<Utc>,
    pub duration_seconds: f64,
    pub outcome: Outcome,
    pub counts: BTreeMap<&'static str, u64>,
    pub notes: Vec<String>,
    pub error: Option<String>,
}

/// The last run of each job, in this process.
#[derive(Default)]
pub struct JobBoard {
    last: RwLock<BTreeMap<&'static str, JobRun>>,
}

impl JobBoard {
    pub fn new() -> Arc<JobBoard> {
        Arc::new(JobBoard::default())
    }

    /// Records a finished run: its metrics, and (unless it only overlapped) as the job's last.
    pub fn record(&self, run: JobRun) {
        metrics::counter!("orbitpay_job_runs_total", "job" => run.job, "outcome" => run.outcome.as_str())
            .increment(1);
        if run.outcome == Outcome::Overlapped {
            return;
        }
        metrics::histogram!("orbitpay_job_duration_seconds", "job" => run.job)
            .record(run.duration_seconds);
        for (action, n) in &run.counts {
            metrics::counter!("orbitpay_job_items_total", "job" => run.job, "action" => *action)
                .increment(*n);
        }
        self.last
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(run.job, run);
    }

    /// Every job's last run, by job name.
    pub fn last_runs(&self) -> Vec<JobRun> {
        self.last
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

pub fn describe() {
    describe_counter!(
        "orbitpay_job_runs_total",
        "Runs of each periodic job, by outcome (ok, stopped, failed, overlapped)."
    );
    describe_histogram!(
        "orbitpay_job_duration_seconds",
        Unit::Seconds,
        "Duration of each periodic job's runs."
    );
    describe_counter!(
        "orbitpay_job_items_total",
        "Items each periodic job handled, by action (recovery: settled, released, unavailable, already_resolved, failed; \
         expiry: expired; reconciliation: checked, already_handled, newly_handled, unmatched, \
         unreadable; pruning: deleted keys, events and attempts)."
    );
}
