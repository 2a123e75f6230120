//! Logging: tracing to stdout, JSON lines by default (journald captures stdout) or a
//! human-readable format. `log.level` is an env-filter directive (`info,orbitpay_horizon=debug`);
//! `RUST_LOG`, when set, wins over it.
//!
//! A JSON line carries `timestamp`, `level`, `target`, the event's `message` and structured
//! fields at the top level (`account`, `session_id`, `tx_hash`, `op_id`, `event_id`,
//! `request_id`, ...), and the enclosing span's fields under `span`.
//!
//! Secrets never reach this layer: configuration values are wrapped in
//! [`crate::config::Secret`], whose `Debug`/`Display` print `[redacted]`.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. Returns `false` when one was already installed (a test or
/// an embedding process set its own), which is not an error.
pub fn init(config: &LogConfig) -> anyhow::Result<bool> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directive) if !directive.trim().is_empty() => EnvFilter::builder().parse(directive)?,
        _ => EnvFilter::builder().parse(&config.level)?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_target(true);
    let installed = match config.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.with_ansi(false).compact().try_init(),
    };
    Ok(installed.is_ok())
}
