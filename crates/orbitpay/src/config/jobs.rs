//! `[jobs]`: cron schedules and bounds of the periodic jobs.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// Cron schedules (six fields, seconds first) and bounds of the periodic jobs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Recovery of sessions stuck in `processing`.
    pub recovery: String,
    /// A claim older than this (by the database's clock) is looked up again on the ledger.
    #[serde(with = "humantime_serde")]
    pub recovery_after: Duration,
    /// At most this many claims per recovery run (one ledger lookup each: Horizon's rate
    /// limit is shared with ingestion).
    pub recovery_batch: u32,
    /// The expiry sweep: `pending` sessions past `expires_at` become `expired`, once
    /// ingestion has passed a ledger that closed after it.
    pub expiry: String,
    /// Reconciliation against the ledger's REST history.
    pub reconcile: String,
    /// How far back reconciliation reads each account's payments.
    #[serde(with = "humantime_serde")]
    pub reconcile_window: Duration,
    /// The prune job: idempotency keys past `admin.idempotency_ttl`, and delivered outbox
    /// events older than `prune_events_after`. (`prune_idempotency_keys` is its former name.)
    #[serde(alias = "prune_idempotency_keys")]
    pub prune: String,
    /// Delivered outbox events (and their delivery attempts) older than this are deleted.
    /// An event with any delivery not delivered is kept.
    #[serde(with = "humantime_serde")]
    pub prune_events_after: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            recovery: "0 */5 * * * *".into(),
            recovery_after: Duration::from_secs(300),
            recovery_batch: 100,
            expiry: "0 * * * * *".into(),
            reconcile: "0 0 * * * *".into(),
            reconcile_window: Duration::from_secs(24 * 3600),
            prune: "0 */10 * * * *".into(),
            prune_events_after: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

impl JobsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        validate_cron("jobs.recovery", &self.recovery)?;
        validate_cron("jobs.expiry", &self.expiry)?;
        validate_cron("jobs.reconcile", &self.reconcile)?;
        validate_cron("jobs.prune", &self.prune)?;
        if self.recovery_after < Duration::from_secs(1) {
            return Err(invalid("jobs.recovery_after must be at least 1s"));
        }
        if self.recovery_batch == 0 {
            return Err(invalid("jobs.recovery_batch must be at least 1"));
        }
        if self.reconcile_window < Duration::from_secs(60) {
            return Err(invalid("jobs.reconcile_window must be at least 1m"));
        }
        if self.prune_events_after < Duration::from_secs(60) {
            return Err(invalid("jobs.prune_events_after must be at least 1m"));
        }
        Ok(())
    }
}

/// Validates a six-field cron string with the parser settings tokio-cron-scheduler uses, so
/// what passes here schedules there.
pub fn validate_cron(key: &str, expr: &str) -> Result<(), ConfigError> {
    let fields = expr.split_whitespace().count();
    if fields != 6 {
        return Err(invalid(format!(
            "{key}: {expr:?} has {fields} fields; cron here takes six, seconds first (e.g. \"0 */5 * * * *\")"
        )));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map(|_| ())
        .map_err(|e| invalid(format!("{key}: {expr:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_checks() {
        validate_cron("k", "0 */5 * * * *").unwrap();
        assert!(validate_cron("k", "*/5 * * * *").is_err());
        assert!(validate_cron("k", "0 61 * * * *").is_err());
        assert!(validate_cron("k", "every minute please ok").is_err());
    }

    #[test]
    fn every_schedule_is_checked_and_named() {
        JobsConfig::default().validate().unwrap();
        for key in ["recovery", "expiry", "reconcile", "prune"] {
            let mut c = JobsConfig::default();
            match key {
                "recovery" => c.recovery = "*/5 * * * *".into(),
                "expiry" => c.expiry = "*/5 * * * *".into(),
                "reconcile" => c.reconcile = "*/5 * * * *".into(),
                _ => c.prune = "*/5 * * * *".into(),
            }
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(&format!("jobs.{key}")), "{e}");
        }
    }

    #[test]
    fn the_former_name_of_the_prune_schedule_still_reads() {
        let c: JobsConfig = toml::from_str("prune_idempotency_keys = \"0 0 * * * *\"").unwrap();
        assert_eq!(c.prune, "0 0 * * * *");
    }
}
