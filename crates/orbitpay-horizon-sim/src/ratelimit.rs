//! Horizon's per-IP request limit, as its GCRA limiter behaves: a bucket of `burst` requests
//! that refills at `per_second`. REST answers carry `X-Ratelimit-Limit`, `-Remaining` and
//! `-Reset`; a request over the limit is a 429 with `Retry-After`. Streams are not limited
//! (Horizon exempts them), so only REST routes pass through here.

use std::time::Instant;

/// A request limit for [`crate::HorizonSim::set_rate_limit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests that may arrive at once (Horizon's default is 100).
    pub burst: u32,
    /// Refill rate (Horizon's default is 3600 an hour, one a second).
    pub per_second: f64,
}

/// What one request is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Whole seconds until the bucket is full again.
    pub reset_secs: u64,
    /// Whole seconds until one request fits (for a 429's `Retry-After`).
    pub retry_after_secs: u64,
}

#[derive(Debug)]
pub(crate) struct Bucket {
    limit: RateLimit,
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    pub fn new(limit: RateLimit, now: Instant) -> Bucket {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            updated: now,
        }
    }

    pub fn take(&mut self, now: Instant) -> Verdict {
        let burst = f64::from(self.limit.burst);
        let rate = self.limit.per_second.max(f64::MIN_POSITIVE);
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.updated = now;
        let allowed = self.tokens >= 1.0;
        if allowed {
            self.tokens -= 1.0;
        }
        // Whole seconds, rounded up as Horizon's limiter does.
        let secs = |missing: f64| (missing / rate).max(0.0).ceil() as u64;
        Verdict {
            allowed,
            limit: self.limit.burst,
            remaining: self.tokens.floor() as u32,
            reset_secs: secs(burst - self.tokens).max(u64::from(!allowed)),
            retry_after_secs: secs(1.0 - self.tokens).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_served_then_refused_until_the_bucket_refills() {
        let t0 = Instant::now();
        let mut b = Bucket::new(
            RateLimit {
                burst: 3,
                per_second: 1.0,
            },
            t0,
        );
        let remaining: Vec<u32> = (0..3).map(|_| b.take(t0).remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = b.take(t0);
        assert!(!refused.allowed);
        assert_eq!((refused.retry_after_secs, refused.reset_secs), (1, 3));
        assert!(b.take(t0 + std::time::Duration::from_millis(1100)).allowed);
    }
}
