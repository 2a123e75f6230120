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

    /// Asks systemd for `by` more start-up time (`EXTEND_TIMEOUT_USEC=`): sent on each retry
    /// while start-up legitimately waits (for the database), so `TimeoutStartSec` bounds a
    /// hung start, not an outage being waited out.
    pub fn extend_start_timeout(&self, by: Duration) {
        let usec = u32::try_from(by.as_micros()).unwrap_or(u32::MAX);
        self.send(&[NotifyState::ExtendTimeoutUsec(usec)]);
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

/// Whether the database answers a `SELECT 1` within `timeout`. Reported beside the watchdog,
/// never a reason to withhold it: an outage is waited out (every loop retries it), and a
/// restart would only drop the admin socket and start the wait again.
pub async fn database_answers(pool: &DbPool, timeout: Duration) -> Result<(), String> {
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

/// Sends `WATCHDOG=1` every `interval` while every ingest loop is progressing or legitimately
/// waiting ([`Liveness::check`]); logs (once per failure streak) and skips the ping otherwise,
/// so systemd restarts a wedged daemon. The database is probed on each tick for the
/// `orbitpay_database_up` gauge and a WARN, but an unreachable one is a wait, not a wedge.
/// Returns on `shutdown`.
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
    let mut db_down = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        // Leave headroom inside the interval: a ping that arrives late is as bad as none.
        let timeout = (interval / 2).max(Duration::from_millis(100));
        match database_answers(&pool, timeout).await {
            Ok(()) => {
                if db_down {
                    tracing::info!("database answers again");
                    db_down = false;
                }
                metrics::gauge!("orbitpay_database_up").set(1.0);
            }
            Err(reason) => {
                if !db_down {
                    tracing::warn!(%reason, "database unreachable; waiting it out (watchdog pings continue while every loop retries)");
                    db_down = true;
                }
                metrics::gauge!("orbitpay_database_up").set(0.0);
            }
        }
        match liveness.check().map_err(|w| w.to_string()) {
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
