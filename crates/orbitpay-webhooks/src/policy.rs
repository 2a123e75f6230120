//! What a response means for the next attempt. Pure, so every branch is unit-tested.

use std::time::Duration;

use orbitpay_core::{Backoff, Jitter};
use orbitpay_store::deliveries::Outcome;

/// Retry limits; the defaults spread retries from seconds to hours over about three days.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Age (from the delivery's creation) after which a retryable failure is final.
    pub max_age: Duration,
    pub max_attempts: u32,
    /// Attempts for a non-retryable response (a 4xx other than 408/429, a 3xx, a refused URL):
    /// a few, in case the merchant's deploy was briefly broken.
    pub client_error_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_age: Duration::from_secs(3 * 24 * 3600),
            max_attempts: 30,
            client_error_attempts: 3,
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(6 * 3600),
        }
    }
}

/// How an attempt ended, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// Timeout, refused or dropped connection, DNS failure: the receiver may be back soon.
    Transport,
    /// The URL cannot be sent to (invalid, or the SSRF guard refused its address).
    Unsendable,
}

impl RetryPolicy {
    /// `attempt` is the number of the attempt that just ended (from 1); `age` is the delivery's.
    /// `jitter` is a uniform draw in [0, 1).
    pub fn decide(&self, attempt: u32, age: Duration, response: Response, jitter: f64) -> Outcome {
        let (retryable, retry_after) = match response {
            Response::Status { code, .. } if (200..300).contains(&code) => {
                return Outcome::Delivered;
            }
            Response::Status { code, retry_after } => (
                code >= 500 || code == 408 || code == 429,
                retry_after.filter(|_| code == 429 || code == 503),
            ),
            Response::Transport => (true, None),
            Response::Unsendable => (false, None),
        };
        let limit = if retryable {
            self.max_attempts
        } else {
            self.client_error_attempts
        };
        if attempt >= limit {
            return Outcome::Dead;
        }
        let delay = match retry_after {
            Some(after) => after.min(self.backoff_cap),
            None => self.backoff().delay_with(attempt.saturating_sub(1), jitter),
        };
        if age.saturating_add(delay) > self.max_age {
            return Outcome::Dead;
        }
        Outcome::Retry { delay }
    }

    /// Full jitter; after attempt `n` the ceiling is `backoff_base * 2^(n-1)`, capped.
    fn backoff(&self) -> Backoff {
        Backoff::new(self.backoff_base, self.backoff_cap, Jitter::Full)
    }
}

/// `Retry-After`: delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn status(code: u16) -> Response {
        Response::Status {
            code,
            retry_after: None,
        }
    }

    #[test]
    fn success_is_delivered() {
        let p = RetryPolicy::default();
        for code in [200, 201, 204, 299] {
            assert_eq!(p.decide(1, HOUR, status(code), 0.5), Outcome::Delivered);
        }
    }

    #[test]
    fn retryable_failures_back_off_until_max_attempts() {
        let p = RetryPolicy::default();
        for r in [
            status(500),
            status(503),
            status(408),
            status(429),
            Response::Transport,
        ] {
            assert_eq!(
                p.decide(1, Duration::ZERO, r, 0.999_999),
                Outcome::Retry {
                    delay: Duration::from_secs(5).mul_f64(0.999_999)
                },
                "{r:?}"
            );
            assert_eq!(
                p.decide(3, Duration::ZERO, r, 0.5),
                Outcome::Retry {
                    delay: Duration::from_secs(10)
                }
            );
            assert_eq!(p.decide(30, Duration::ZERO, r, 0.5), Outcome::Dead);
        }
        // Capped.
        assert_eq!(
            p.decide(25, Duration::ZERO, Response::Transport, 1.0),
            Outcome::Retry { delay: 6 * HOUR }
        );
    }

    #[test]
    fn full_jitter_spans_zero_to_the_ceiling() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.decide(4, Duration::ZERO, status(500), 0.0),
            Outcome::Retry {
                delay: Duration::ZERO
            }
        );
        assert_eq!(
            p.decide(4, Duration::ZERO, status(500), 1.0),
            Outcome::Retry {
                delay: Duration::from_secs(40)
            }
        );
    }

    #[test]
    fn past_max_age_is_dead() {
        let p = RetryPolicy::default();
        let old = p.max_age - Duration::from_secs(1);
        assert_eq!(p.decide(2, old, status(500), 1.0), Outcome::Dead);
        assert_eq!(
            p.decide(2, old, status(500), 0.0),
            Outcome::Retry {
                delay: Duration::ZERO
            }
        );
    }

    #[test]
    fn retry_after_is_honoured_on_429_and_503_only() {
        let p = RetryPolicy::default();
        let after = Some(Duration::from_secs(120));
        for code in [429, 503] {
            assert_eq!(
                p.decide(
                    1,
                    Duration::ZERO,
                    Response::Status {
                        code,
                        retry_after: after
                    },
                    0.0
                ),
                Outcome::Retry {
                    delay: Duration::from_secs(120)
                }
            );
        }
        assert_eq!(
            p.decide(
                1,
                Duration::ZERO,
                Response::Status {
                    code: 500,
                    retry_after: after
                },
                0.0
            ),
            Outcome::Retry {
                delay: Duration::ZERO
            }
        );
        let huge = Some(100 * HOUR);
        assert_eq!(
            p.decide(
                1,
                Duration::ZERO,
                Response::Status {
                    code: 429,
                    retry_after: huge
                },
                0.0
            ),
            Outcome::Retry { delay: 6 * HOUR }
        );
    }

    #[test]
    fn client_errors_get_a_few_attempts() {
        let p = RetryPolicy::default();
        for r in [
            status(400),
            status(404),
            status(410),
            status(301),
            Response::Unsendable,
        ] {
            assert!(
                matches!(p.decide(2, Duration::ZERO, r, 0.5), Outcome::Retry { .. }),
                "{r:?}"
            );
            assert_eq!(p.decide(3, Duration::ZERO, r, 0.5), Outcome::Dead, "{r:?}");
        }
    }

    #[test]
    fn retry_after_formats() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after(" 30 ", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:29:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
