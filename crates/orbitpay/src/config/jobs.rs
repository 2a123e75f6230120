//! `[jobs]`: cron schedules of the periodic jobs.

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// Cron schedules (six fields, seconds first) for the periodic jobs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Delete idempotency keys older than `admin.idempotency_ttl`.
    pub prune_idempotency_keys: String,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            prune_idempotency_keys: "0 */10 * * * *".into(),
        }
    }
}

impl JobsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        validate_cron("jobs.prune_idempotency_keys", &self.prune_idempotency_keys)
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
}
