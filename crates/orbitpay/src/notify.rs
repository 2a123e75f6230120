//! systemd notifications (`READY=1`, `STATUS=`, `STOPPING=1`, `WATCHDOG=1`) and the watchdog
//! loop that pings only while the daemon is actually alive.
//!
//! [`Notifier::Systemd`] goes through `sd_notify` to `$NOTIFY_SOCKET` (a no-op when unset, as
//! outside systemd); [`Notifier::Channel`] records the messages instead, for in-process tests
//! and the demo.

use std::time::Duration;

use orbitpay_store::DbPool;
use sd_notify::NotifyState;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::liveness::Liveness;

#[derive(Clone, Debug)]
pub enum Notifier {
    /// `sd_notify(3)` to `$NOTIFY_SOCKET`; nothing when the variable is unset.
    Systemd,
    /// Each notification as the text systemd would receive (`READY=1`, `STATUS=...`).
    Channel(mpsc::UnboundedSender<String>),
    Off,
}

impl Notifier {
    pub fn ready(&self) {
        self.send(&[NotifyState::Ready]);
    }

    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    pub fn status(&self, line: &str) {
        // A newline would end the STATUS= assignment and start another.
        let line = line.replace('\n', " ");
        self.send(&[NotifyState::Status(&line)]);
    }

    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        match self {
            Notifier::Systemd => {
                if let Err(e) = sd_notify::notify(states) {
                    tracing::warn!(error = %e, "sd_notify failed");
                }
            }
            Notifier::Channel(tx) => {
                for s in states {
                    let _ = tx.send(s.to_string());
                }
            }
            Notifier::Off => {}
        }
    }

    /// How often to ping: half the `WatchdogSec` systemd asked for (`$WATCHDOG_USEC`, for this
    /// pid), or `None` when the watchdog is off.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        match self {
            Notifier::Systemd => sd_notify::watchdog_enabled().map(|d| d / 2),
            _ => None,
        }
    }
}

/// The liveness check behind each `WATCHDOG=1`: every ingest loop is progressing or
/// legitimately idle, and the database pool answers a `SELECT 1` within `timeout`.
pub async fn alive(liveness: &Liveness, pool: &DbPool, timeout: Duration) -> Result<(), String> {
    liveness.check().map_err(|w| w.to_string())?;
    let ping = async {
        let mut conn = pool.get().await.map_err(|e| e.to_string())?;
        orbitpay_store::stats::ping(&mut conn)
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(timeout, ping).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("database does not answer: {e}")),
        Err(_) => Err(format!(
            "database does not answer within {}ms",
            timeout.as_millis()
        )),
    }
}

/// Sends `WATCHDOG=1` every `interval` while [`alive`] passes; logs (once per failure streak)
/// and skips the ping otherwise, so systemd restarts a wedged daemon. Returns on `shutdown`.
pub async fn run_watchdog(
    notifier: Notifier,
    interval: Duration,
    liveness: Liveness,
    pool: DbPool,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        // Leave headroom inside the interval: a ping that arrives late is as bad as none.
        let timeout = (interval / 2).max(Duration::from_millis(100));
        match alive(&liveness, &pool, timeout).await {
            Ok(()) => {
                if failing {
                    tracing::info!("liveness restored; watchdog pings resume");
                    failing = false;
                }
                metrics::gauge!("orbitpay_alive").set(1.0);
                notifier.watchdog();
            }
            Err(reason) => {
                if !failing {
                    tracing::error!(%reason, "liveness check failed; withholding watchdog pings");
                    failing = true;
                }
                metrics::gauge!("orbitpay_alive").set(0.0);
                metrics::counter!("orbitpay_watchdog_withheld_total").increment(1);
            }
        }
    }
}
