//! The orbitpay daemon's library: configuration, the `serve` lifecycle (sd_notify, watchdog,
//! signals), per-account leadership across instances, logging, metrics and the admin socket. The demo is its own crate, `orbitpay-demo`.

pub mod accounts;
pub mod admin;
pub mod config;
pub mod ingest;
pub mod jobs;
pub mod leader;
pub mod liveness;
pub mod metrics;
pub mod notify;
pub mod serve;
pub mod status;
pub mod telemetry;
pub mod webhooks;
