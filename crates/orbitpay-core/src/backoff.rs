//! Exponential backoff: the one way every wait after a failure is computed (the follower and its
//! re-reads, the database retries, the webhook policy, the daemon's waits for the database).
//!
//! Each caller keeps its own numbers (a base, a cap) and says how far it has doubled: the
//! exponent is counted by the caller (attempt `n` of the follower doubles `n` times, the
//! webhook policy's attempt `n` doubles `n - 1` times), so moving a caller here keeps its waits
//! exactly. The draw is a parameter ([`Backoff::delay_with`]) so a pure caller (the webhook
//! policy) and the tests stay deterministic; [`Backoff::delay`] draws it at random.
//!
//! Not `backon`: its jitter adds a draw on top of the delay (never shorter than it), while
//! our callers need full jitter (many instances waking after one outage spread over the whole
//! range) and a deterministic draw for the policy's unit tests.

use std::time::Duration;

/// How the wait is spread below its ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly the ceiling: a single waiter (one process waiting for its database) needs no
    /// spreading.
    None,
    /// Uniform in `[0, ceiling]` ("full jitter"): many waiters after one outage come back
    /// spread out, not in lockstep.
    Full,
    /// Uniform in `[ceiling / 2, ceiling]`: spread, yet never much shorter than the ceiling
    /// (re-reads of an unreadable record must be spread over time, or a corruption lasting a
    /// few seconds would use them all at once).
    UpperHalf,
}

/// `base * 2^doublings`, capped at `cap`, spread by `jitter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    pub jitter: Jitter,
}

impl Backoff {
    pub const fn new(base: Duration, cap: Duration, jitter: Jitter) -> Backoff {
        Backoff { base, cap, jitter }
    }

    /// The longest wait after `doublings` doublings: `base * 2^doublings`, at most `cap`.
    /// Saturating: a long outage's exponent never overflows.
    pub fn ceiling(&self, doublings: u32) -> Duration {
        self.base
            .saturating_mul(2u32.saturating_pow(doublings.min(31)))
            .min(self.cap)
    }

    /// The wait after `doublings` doublings for a uniform `draw` in `[0, 1]` (clamped).
    pub fn delay_with(&self, doublings: u32, draw: f64) -> Duration {
        let ceiling = self.ceiling(doublings);
        let draw = draw.clamp(0.0, 1.0);
        let part = |d: Duration| Duration::try_from_secs_f64(draw * d.as_secs_f64()).unwrap_or(d);
        match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => part(ceiling),
            Jitter::UpperHalf => {
                let half = ceiling / 2;
                half + part(ceiling - half)
            }
        }
    }

    /// The wait after `doublings` doublings, drawn at random.
    pub fn delay(&self, doublings: u32) -> Duration {
        self.delay_with(doublings, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn b(jitter: Jitter) -> Backoff {
        Backoff::new(100 * MS, 1000 * MS, jitter)
    }

    #[test]
    fn the_ceiling_doubles_from_the_base_up_to_the_cap() {
        let ceilings: Vec<_> = (0..6).map(|n| b(Jitter::None).ceiling(n)).collect();
        assert_eq!(
            ceilings,
            [100 * MS, 200 * MS, 400 * MS, 800 * MS, 1000 * MS, 1000 * MS]
        );
    }

    #[test]
    fn a_huge_exponent_saturates_at_the_cap() {
        for n in [31, 32, 1000, u32::MAX] {
            assert_eq!(b(Jitter::None).ceiling(n), 1000 * MS, "{n}");
            let unbounded = Backoff::new(Duration::from_secs(1), Duration::MAX, Jitter::Full);
            assert_eq!(unbounded.delay_with(n, 1.0), unbounded.ceiling(n), "{n}");
            assert!(unbounded.delay(n) <= unbounded.ceiling(n));
        }
    }

    #[test]
    fn no_jitter_waits_the_ceiling_whatever_the_draw() {
        for draw in [0.0, 0.3, 1.0] {
            assert_eq!(b(Jitter::None).delay_with(2, draw), 400 * MS);
        }
    }

    #[test]
    fn full_jitter_spans_zero_to_the_ceiling() {
        let full = b(Jitter::Full);
        assert_eq!(full.delay_with(2, 0.0), Duration::ZERO);
        assert_eq!(full.delay_with(2, 0.5), 200 * MS);
        assert_eq!(full.delay_with(2, 1.0), 400 * MS);
        // Out-of-range draws are clamped, never past the ceiling.
        assert_eq!(full.delay_with(2, 7.0), 400 * MS);
        assert_eq!(full.delay_with(2, -1.0), Duration::ZERO);
    }

    #[test]
    fn upper_half_jitter_spans_half_the_ceiling_to_the_ceiling() {
        let upper = b(Jitter::UpperHalf);
        assert_eq!(upper.delay_with(3, 0.0), 400 * MS);
        assert_eq!(upper.delay_with(3, 1.0), 800 * MS);
        assert_eq!(upper.delay_with(9, 0.0), 500 * MS);
    }

    #[test]
    fn random_draws_stay_within_their_bounds() {
        for n in 0..8 {
            let full = b(Jitter::Full).delay(n);
            assert!(full <= b(Jitter::Full).ceiling(n), "{n}: {full:?}");
            let upper = b(Jitter::UpperHalf).delay(n);
            let ceiling = b(Jitter::UpperHalf).ceiling(n);
            assert!(upper >= ceiling / 2 && upper <= ceiling, "{n}: {upper:?}");
        }
    }
}
