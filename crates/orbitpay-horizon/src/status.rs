//! Per-follower status (an account's, or the network's), shared with the daemon's metrics and
//! status endpoints.
//!
//! Counters are atomics (read without locking from any task); the state is a
//! `tokio::sync::watch` so a supervisor can await a change (e.g. `Halted`) instead of polling.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use orbitpay_core::AccountId;

use crate::source::Scope;
use serde::Serialize;
use tokio::sync::watch;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum FollowerState {
    Starting,
    CatchingUp,
    Streaming,
    BackingOff {
        reason: String,
    },
    /// Ingestion for this account stopped; an operator must act (see the reason).
    Halted {
        reason: HaltReason,
    },
    /// Shut down on request.
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HaltReason {
    #[error(
        "network reset: the cursor is in ledger {cursor_ledger} but the source's latest ledger is \
         {latest_ledger}; reset this account's cursor to resume"
    )]
    NetworkReset {
        cursor_ledger: u32,
        latest_ledger: u32,
    },
    #[error("the record sink failed fatally: {message}")]
    SinkFatal { message: String },
}

/// Live status of one follower.
#[derive(Debug)]
pub struct FollowerStatus {
    account: Scope,
    state: watch::Sender<FollowerState>,
    /// The last token the sink confirmed (0 before there is one).
    cursor: AtomicI64,
    last_ledger: AtomicU32,
    last_event_unix_ms: AtomicI64,
    /// When the current run of failures began (0: none): set by the first `BackingOff`, cleared
    /// by progress (a confirmed cursor, a stream open).
    retrying_since_unix_ms: AtomicI64,
    pub(crate) records: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) routine_closes: AtomicU64,
    pub(crate) stalls: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) sink_retries: AtomicU64,
    pub(crate) duplicates_skipped: AtomicU64,
    pub(crate) gaps_detected: AtomicU64,
    gap: AtomicBool,
    reset: AtomicBool,
}

/// A plain copy of [`FollowerStatus`] for rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusSnapshot {
    /// Whom the follower follows: an account (its `G…` address) or the network (`network`).
    /// Named `account` as before network mode: an account's status reads as it always did.
    pub account: Scope,
    pub state: FollowerState,
    pub cursor: Option<i64>,
    pub last_ledger: Option<u32>,
    pub last_event_unix_ms: Option<i64>,
    /// Since when the follower has been failing and backing off without progress.
    pub retrying_since_unix_ms: Option<i64>,
    pub records: u64,
    /// Records that could not be tied to an operation (reported to the sink as errors).
    pub malformed: u64,
    /// Every new connection after the first, whatever the cause.
    pub reconnects: u64,
    /// Of those, the server's routine closes (`byebye` / end of body).
    pub routine_closes: u64,
    pub stalls: u64,
    /// Source failures: HTTP errors, transport errors, `event: error`.
    pub errors: u64,
    pub sink_retries: u64,
    pub duplicates_skipped: u64,
    pub gaps_detected: u64,
    /// The cursor was older than the source's retained history: records may be missing.
    pub gap: bool,
    /// The cursor was ahead of the source's latest ledger: the network was reset.
    pub reset: bool,
}

impl FollowerStatus {
    pub fn new(account: AccountId) -> Arc<Self> {
        Self::of(Scope::Account(account))
    }

    /// The network follower's status.
    pub fn network() -> Arc<Self> {
        Self::of(Scope::Network)
    }

    pub fn of(account: Scope) -> Arc<Self> {
        Arc::new(FollowerStatus {
            account,
            state: watch::Sender::new(FollowerState::Starting),
            cursor: AtomicI64::new(0),
            last_ledger: AtomicU32::new(0),
            last_event_unix_ms: AtomicI64::new(0),
            retrying_since_unix_ms: AtomicI64::new(0),
            records: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            routine_closes: AtomicU64::new(0),
            stalls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            sink_retries: AtomicU64::new(0),
            duplicates_skipped: AtomicU64::new(0),
            gaps_detected: AtomicU64::new(0),
            gap: AtomicBool::new(false),
            reset: AtomicBool::new(false),
        })
    }

    /// Whom the follower follows.
    pub fn scope(&self) -> Scope {
        self.account
    }

    pub fn state(&self) -> FollowerState {
        self.state.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<FollowerState> {
        self.state.subscribe()
    }

    /// Acknowledges a reported retention gap (the operator reconciled it).
    pub fn clear_gap(&self) {
        self.gap.store(false, Relaxed);
    }

    pub fn snapshot(&self) -> StatusSnapshot {
        let nz = |v: i64| (v != 0).then_some(v);
        StatusSnapshot {
            account: self.account,
            state: self.state(),
            cursor: nz(self.cursor.load(Relaxed)),
            last_ledger: Some(self.last_ledger.load(Relaxed)).filter(|l| *l != 0),
            last_event_unix_ms: nz(self.last_event_unix_ms.load(Relaxed)),
            retrying_since_unix_ms: nz(self.retrying_since_unix_ms.load(Relaxed)),
            records: self.records.load(Relaxed),
            malformed: self.malformed.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            routine_closes: self.routine_closes.load(Relaxed),
            stalls: self.stalls.load(Relaxed),
            errors: self.errors.load(Relaxed),
            sink_retries: self.sink_retries.load(Relaxed),
            duplicates_skipped: self.duplicates_skipped.load(Relaxed),
            gaps_detected: self.gaps_detected.load(Relaxed),
            gap: self.gap.load(Relaxed),
            reset: self.reset.load(Relaxed),
        }
    }

    pub(crate) fn set_state(&self, s: FollowerState) {
        match s {
            FollowerState::BackingOff { .. } => {
                let _ =
                    self.retrying_since_unix_ms
                        .compare_exchange(0, unix_ms(), Relaxed, Relaxed);
            }
            FollowerState::Streaming => self.retrying_since_unix_ms.store(0, Relaxed),
            _ => {}
        }
        self.state.send_if_modified(|cur| {
            let changed = *cur != s;
            *cur = s;
            changed
        });
    }

    pub(crate) fn set_cursor(&self, c: i64) {
        self.cursor.store(c, Relaxed);
        self.retrying_since_unix_ms.store(0, Relaxed);
    }

    pub(crate) fn saw_ledger(&self, l: u32) {
        self.last_ledger.fetch_max(l, Relaxed);
    }

    pub(crate) fn touch(&self) {
        self.last_event_unix_ms.store(unix_ms(), Relaxed);
    }

    pub(crate) fn flag_gap(&self) {
        self.gap.store(true, Relaxed);
        self.gaps_detected.fetch_add(1, Relaxed);
    }

    pub(crate) fn flag_reset(&self) {
        self.reset.store(true, Relaxed);
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retrying_since_marks_the_first_failure_until_progress() {
        let account: AccountId = "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7"
            .parse()
            .unwrap();
        let s = FollowerStatus::new(account);
        assert_eq!(s.snapshot().retrying_since_unix_ms, None);
        s.set_state(FollowerState::BackingOff { reason: "a".into() });
        let since = s.snapshot().retrying_since_unix_ms.expect("set");
        std::thread::sleep(std::time::Duration::from_millis(5));
        // Reconnect attempts between failures do not reset it; only progress does.
        s.set_state(FollowerState::CatchingUp);
        s.set_state(FollowerState::BackingOff { reason: "b".into() });
        assert_eq!(s.snapshot().retrying_since_unix_ms, Some(since));
        s.set_cursor(42);
        assert_eq!(s.snapshot().retrying_since_unix_ms, None);
        s.set_state(FollowerState::BackingOff { reason: "c".into() });
        s.set_state(FollowerState::Streaming);
        assert_eq!(s.snapshot().retrying_since_unix_ms, None);
    }
}
