//! `[log]` and `[metrics]`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// An env-filter directive, e.g. `info,orbitpay_horizon=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Json,
            level: "info".into(),
        }
    }
}

impl LogConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        tracing_subscriber::EnvFilter::builder()
            .parse(&self.level)
            .map_err(|e| invalid(format!("log.level {:?}: {e}", self.level)))?;
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Optional loopback TCP address for Prometheus, e.g. `127.0.0.1:9464`. `/metrics` is
    /// always served on the admin socket as well.
    pub listen: Option<String>,
    /// How often the gauges read from the database and the pool are refreshed.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
    /// How many accounts get series of their own (`orbitpay_stream_lag_seconds{account}`,
    /// `orbitpay_stream_cursor_ledger{account}`): the worst by lag. Every other account figure
    /// is a count or a quantile, so 10,000 accounts do not make 10,000 series.
    pub account_series: usize,
}

/// Above this, per-account series would again grow with the platform.
pub const MAX_ACCOUNT_SERIES: usize = 100;

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: None,
            refresh_interval: Duration::from_secs(15),
            account_series: 10,
        }
    }
}

impl MetricsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if self.refresh_interval < Duration::from_secs(1) {
            return Err(invalid("metrics.refresh_interval must be at least 1s"));
        }
        if self.account_series > MAX_ACCOUNT_SERIES {
            return Err(invalid(format!(
                "metrics.account_series must be at most {MAX_ACCOUNT_SERIES}"
            )));
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        let Some(listen) = &self.listen else {
            return Ok(None);
        };
        let addr: std::net::SocketAddr = listen
            .parse()
            .map_err(|e| invalid(format!("metrics.listen {listen:?}: {e}")))?;
        if !addr.ip().is_loopback() {
            return Err(invalid(format!(
                "metrics.listen {listen:?} must be a loopback address (127.0.0.0/8 or [::1])"
            )));
        }
        Ok(Some(addr))
    }
}
