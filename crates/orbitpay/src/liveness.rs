//! Liveness of the ingest loops, for the systemd watchdog.
//!
//! Each ingest loop owns a [`Heartbeat`] (from [`Liveness::register`]) and marks it:
//!
//! - [`Heartbeat::beat`] whenever it makes progress (a record or page handled, a retry of a
//!   transient failure attempted);
//! - [`Heartbeat::idle`] just before it legitimately waits for input (the next Horizon event, a
//!   backoff sleep). Waiting is bounded elsewhere (the follower's stall timeout), so an idle loop
//!   is alive.
//!
//! A loop that is busy (last mark a `beat`) and has not beaten for longer than `stuck_after` is
//! wedged: [`Liveness::check`] fails, the watchdog stops sending `WATCHDOG=1`, and systemd
//! restarts the daemon after `WatchdogSec`. Dropping the heartbeat (the loop ended) unregisters
//! it.
//!
//! Time is tokio's clock, so tests can `tokio::time::pause()` and advance it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::time::Instant;

/// The set of registered loops. Cheap to clone; one per daemon instance (no global state).
#[derive(Clone)]
pub struct Liveness {
    inner: Arc<Inner>,
}

struct Inner {
    epoch: Instant,
    stuck_after: Duration,
    next_id: AtomicU64,
    loops: Mutex<BTreeMap<u64, Weak<Beat>>>,
}

struct Beat {
    name: String,
    /// Milliseconds since `epoch` of the last mark.
    last_ms: AtomicU64,
    idle: AtomicBool,
}

/// One loop's marker. Dropping it unregisters the loop.
pub struct Heartbeat {
    beat: Arc<Beat>,
    epoch: Instant,
    id: u64,
    liveness: Weak<Inner>,
}

/// Why the check failed: the loops that are wedged, with how long they have been busy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wedged {
    pub loops: Vec<(String, Duration)>,
}

impl std::fmt::Display for Wedged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .loops
            .iter()
            .map(|(name, d)| format!("{name} busy for {}s without progress", d.as_secs()))
            .collect();
        write!(f, "wedged ingest loop(s): {}", parts.join(", "))
    }
}

impl std::error::Error for Wedged {}

impl Liveness {
    pub fn new(stuck_after: Duration) -> Liveness {
        Liveness {
            inner: Arc::new(Inner {
                epoch: Instant::now(),
                stuck_after,
                next_id: AtomicU64::new(0),
                loops: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    pub fn stuck_after(&self) -> Duration {
        self.inner.stuck_after
    }

    /// Registers a loop, initially busy (it is starting up) as of now.
    pub fn register(&self, name: impl Into<String>) -> Heartbeat {
        let beat = Arc::new(Beat {
            name: name.into(),
            last_ms: AtomicU64::new(elapsed_ms(self.inner.epoch)),
            idle: AtomicBool::new(false),
        });
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.loops).insert(id, Arc::downgrade(&beat));
        Heartbeat {
            beat,
            epoch: self.inner.epoch,
            id,
            liveness: Arc::downgrade(&self.inner),
        }
    }

    /// Names of the registered loops.
    pub fn loops(&self) -> Vec<String> {
        lock(&self.inner.loops)
            .values()
            .filter_map(Weak::upgrade)
            .map(|b| b.name.clone())
            .collect()
    }

    /// Passes when every registered loop is idle or made progress within `stuck_after`.
    pub fn check(&self) -> Result<(), Wedged> {
        let now = elapsed_ms(self.inner.epoch);
        let limit = self.inner.stuck_after.as_millis() as u64;
        let mut wedged = Vec::new();
        for beat in lock(&self.inner.loops).values().filter_map(Weak::upgrade) {
            if beat.idle.load(Ordering::Acquire) {
                continue;
            }
            let busy = now.saturating_sub(beat.last_ms.load(Ordering::Acquire));
            if busy > limit {
                wedged.push((beat.name.clone(), Duration::from_millis(busy)));
            }
        }
        if wedged.is_empty() {
            Ok(())
        } else {
            Err(Wedged { loops: wedged })
        }
    }
}

impl Heartbeat {
    /// Progress: the loop is working and just got something done.
    pub fn beat(&self) {
        self.beat
            .last_ms
            .store(elapsed_ms(self.epoch), Ordering::Release);
        self.beat.idle.store(false, Ordering::Release);
    }

    /// The loop is about to wait for input; it counts as alive until its next `beat`.
    pub fn idle(&self) {
        self.beat
            .last_ms
            .store(elapsed_ms(self.epoch), Ordering::Release);
        self.beat.idle.store(true, Ordering::Release);
    }

    pub fn name(&self) -> &str {
        &self.beat.name
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        if let Some(inner) = self.liveness.upgrade() {
            lock(&inner.loops).remove(&self.id);
        }
    }
}

fn elapsed_ms(epoch: Instant) -> u64 {
    Instant::now().saturating_duration_since(epoch).as_millis() as u64
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_busy_loop_without_progress_is_wedged() {
        let liveness = Liveness::new(Duration::from_secs(10));
        let hb = liveness.register("ingest GA..");
        liveness.check().unwrap();
        tokio::time::advance(Duration::from_secs(5)).await;
        hb.beat();
        tokio::time::advance(Duration::from_secs(9)).await;
        liveness.check().unwrap();
        tokio::time::advance(Duration::from_secs(2)).await;
        let err = liveness.check().unwrap_err();
        assert_eq!(err.loops.len(), 1);
        assert_eq!(err.loops[0].0, "ingest GA..");
        // Progress heals it.
        hb.beat();
        liveness.check().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_loop_stays_alive_and_drop_unregisters() {
        let liveness = Liveness::new(Duration::from_secs(10));
        let hb = liveness.register("a");
        let stale = liveness.register("b");
        hb.idle();
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(liveness.check().unwrap_err().loops.len(), 1);
        drop(stale);
        liveness.check().unwrap();
        assert_eq!(liveness.loops(), vec!["a".to_owned()]);
        hb.beat();
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(liveness.check().is_err());
    }
}
