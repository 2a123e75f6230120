//! One request budget per Horizon, shared by catch-up paging, transaction lookups and merge
//! effects. Public Horizon limits requests per IP (3600 an hour, bursts of 100, GCRA), and a
//! catch-up after downtime would otherwise page as fast as it can into a 429 storm. Requests
//! are spaced from Horizon's own `X-Ratelimit-*` headers before a 429 comes, and a 429 holds
//! every caller until its `Retry-After`. Streams are exempt on Horizon and are not paced.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::time::Instant;

#[derive(Debug)]
pub(crate) struct Pacer {
    state: Mutex<State>,
    /// Bound on any wait, so a hostile header cannot park the client for days.
    max_wait: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// Horizon's last word, minus the requests reserved since.
    budget: Option<Budget>,
    /// The latest reserved start time.
    last_slot: Option<Instant>,
    /// After a 429: nobody starts before this.
    blocked_until: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Budget {
    limit: u32,
    remaining: u32,
    /// When the bucket is full again.
    reset_at: Instant,
}

impl Budget {
    /// Time Horizon takes to refill one request: what is missing over the time to refill it.
    fn refill_interval(&self, now: Instant) -> Duration {
        let missing = self.limit.saturating_sub(self.remaining).max(1);
        self.reset_at.saturating_duration_since(now) / missing
    }
}

impl Pacer {
    pub(crate) fn new(max_wait: Duration) -> Pacer {
        Pacer {
            state: Mutex::new(State::default()),
            max_wait,
        }
    }

    /// Waits for this request's turn.
    pub(crate) async fn wait(&self) {
        let at = self.reserve(Instant::now());
        if at > Instant::now() {
            tracing::debug!(
                wait_ms = at.saturating_duration_since(Instant::now()).as_millis() as u64,
                "pacing a Horizon request under its rate limit"
            );
            tokio::time::sleep_until(at).await;
        }
    }

    /// Reserves a start time. Above half the burst, requests go at once; below it they are
    /// spaced at Horizon's refill rate, which holds the remaining budget steady and leaves
    /// the other half for lookups that cannot wait.
    fn reserve(&self, now: Instant) -> Instant {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.budget.is_some_and(|b| b.reset_at <= now) {
            s.budget = None;
        }
        let mut at = now;
        if let Some(until) = s.blocked_until {
            if until > now {
                at = until;
            } else {
                s.blocked_until = None;
            }
        }
        let last_slot = s.last_slot;
        if let Some(budget) = s.budget.as_mut() {
            if budget.remaining <= budget.limit / 2
                && let Some(last) = last_slot
            {
                at = at.max(last + budget.refill_interval(now));
            }
            budget.remaining = budget.remaining.saturating_sub(1);
        }
        let at = at.min(now + self.max_wait);
        s.last_slot = Some(s.last_slot.map_or(at, |l| l.max(at)));
        at
    }

    /// Takes Horizon's account of the budget from a response's headers.
    pub(crate) fn observe(&self, headers: &HeaderMap) {
        self.observe_at(headers, Instant::now());
    }

    fn observe_at(&self, headers: &HeaderMap, now: Instant) {
        let number =
            |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        let (Some(limit), Some(remaining), Some(reset)) = (
            number("x-ratelimit-limit"),
            number("x-ratelimit-remaining"),
            number("x-ratelimit-reset"),
        ) else {
            return;
        };
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.budget = Some(Budget {
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_at: now + Duration::from_secs(reset).min(self.max_wait),
        });
    }

    /// A 429: every caller waits out `retry_after`.
    pub(crate) fn block(&self, retry_after: Duration) {
        self.block_at(retry_after, Instant::now());
    }

    fn block_at(&self, retry_after: Duration, now: Instant) {
        let until = now + retry_after.min(self.max_wait);
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.blocked_until = Some(s.blocked_until.map_or(until, |u| u.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(limit: u32, remaining: u32, reset: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-limit", limit.into());
        h.insert("x-ratelimit-remaining", remaining.into());
        h.insert("x-ratelimit-reset", reset.into());
        h
    }

    #[test]
    fn requests_go_at_once_with_budget_and_at_the_refill_rate_without() {
        let p = Pacer::new(Duration::from_secs(600));
        let now = Instant::now();
        p.observe_at(&headers(100, 90, 10), now);
        assert_eq!(p.reserve(now), now, "plenty left: no wait");

        // 40 of 100 left, full in 60 s: one request refills per second.
        p.observe_at(&headers(100, 40, 60), now);
        let first = p.reserve(now);
        let second = p.reserve(now);
        let third = p.reserve(now);
        for gap in [first - now, second - first, third - second] {
            assert!(
                gap > Duration::from_millis(950) && gap <= Duration::from_secs(1),
                "{gap:?}"
            );
        }
    }

    #[test]
    fn a_429_holds_every_caller_and_waits_are_bounded() {
        let p = Pacer::new(Duration::from_secs(30));
        let now = Instant::now();
        p.block_at(Duration::from_secs(5), now);
        assert_eq!(p.reserve(now), now + Duration::from_secs(5));
        p.block_at(Duration::from_secs(86_400), now);
        assert_eq!(p.reserve(now), now + Duration::from_secs(30));
    }

    #[test]
    fn missing_or_garbled_headers_change_nothing() {
        let p = Pacer::new(Duration::from_secs(600));
        let mut h = headers(100, 0, 60);
        h.insert("x-ratelimit-remaining", "lots".parse().unwrap());
        let now = Instant::now();
        p.observe_at(&h, now);
        assert_eq!(p.reserve(now), now);
        assert_eq!(p.reserve(now), now);
    }
}
