//! `[ingest]`: the ingest mode, leadership, shutdown and the watchdog of the ingest loops.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// How the watched accounts are followed: a Horizon stream per account, or one stream of
    /// the network's payments routed in memory (`auto`: by the number of accounts at start).
    pub mode: IngestMode,
    /// `auto` follows the network when more accounts than this are watched. Per account, each
    /// stream costs about one request credit per ledger (~720 an hour) plus a reconnect every
    /// ~55 s (~65 an hour): ~785 an hour. SDF's public Horizon allows 3,600 an hour per IP, so
    /// 4 accounts already take 3,140 and leave too little for catch-up pages, client-report
    /// lookups and recovery; 3 take 2,355 (about two thirds). The network stream costs the
    /// same ~785 an hour whatever the number of accounts, but reads everyone's payments (and
    /// a restart pages through them all), which only pays off above a handful of accounts.
    pub network_above: usize,
    /// A standby instance tries to take each account this often, and the leader checks its lock
    /// connection this often: another instance takes over within about this long after the
    /// leader dies. PostgreSQL ends a lock connection silent for 4 × this (a frozen leader or a
    /// dead host), so a standby takes over from those within about 5 × this.
    #[serde(with = "humantime_serde")]
    pub leader_retry: Duration,
    /// A halted account (a record the matcher cannot settle) gives up its lead after this
    /// long, so another instance can try; the instance competes again afterwards (and retakes
    /// the lead if it is the only one), retrying the record.
    #[serde(with = "humantime_serde")]
    pub halted_release_after: Duration,
    /// An account retrying a failure without progress for longer than this makes `/readyz`
    /// fail, so a load balancer or an operator sees it.
    #[serde(with = "humantime_serde")]
    pub retrying_unready_after: Duration,
    /// Bound on in-flight work at shutdown.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// An ingest loop busy on one step (not waiting for Horizon) for longer than this is wedged:
    /// the watchdog stops pinging and systemd restarts the daemon.
    #[serde(with = "humantime_serde")]
    pub stuck_after: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            mode: IngestMode::Auto,
            network_above: 3,
            leader_retry: Duration::from_secs(2),
            halted_release_after: Duration::from_secs(300),
            retrying_unready_after: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(20),
            stuck_after: Duration::from_secs(120),
        }
    }
}

/// `ingest.mode`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IngestMode {
    /// `network` above `network_above` accounts, `per_account` up to it.
    #[default]
    Auto,
    PerAccount,
    Network,
}

impl IngestConfig {
    /// The mode this start runs in, for `accounts` watched accounts: never `Auto`.
    pub fn mode_for(&self, accounts: usize) -> IngestMode {
        match self.mode {
            IngestMode::Auto if accounts > self.network_above => IngestMode::Network,
            IngestMode::Auto => IngestMode::PerAccount,
            mode => mode,
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.leader_retry < Duration::from_millis(100) {
            return Err(invalid("ingest.leader_retry must be at least 100ms"));
        }
        if self.halted_release_after < Duration::from_millis(100) {
            return Err(invalid(
                "ingest.halted_release_after must be at least 100ms",
            ));
        }
        if self.stuck_after < Duration::from_secs(1) {
            return Err(invalid("ingest.stuck_after must be at least 1s"));
        }
        Ok(())
    }
}
