//! The one retry of transient database errors, shared by every pool user: the matcher, the
//! admin handlers, the jobs and the webhook dispatcher.
//!
//! [`with_retry!`](crate::with_retry) runs a store call on a pooled connection and, when
//! PostgreSQL says the failure may pass ([`ErrorClass::Transient`]), runs it again on a fresh
//! transaction after a backoff, as the caller's [`Retry`] budget allows: until a stop token
//! (ingestion, jobs, the dispatcher: they have nothing better to do) or a few attempts (a
//! request someone waits on). Each retry is logged (WARN) and counted once, here:
//! `orbitpay_db_errors_total{class}` per failed attempt, `orbitpay_db_retries_total{class}` per
//! retry. A connection that may be at fault is not pooled again ([`drop_if_suspect`]), so after
//! a failover the retry reaches the new primary.
//!
//! The body must be safe to run again: a store transaction that rolled back as a whole, or a
//! call the store makes idempotent (the settle's op-id dedupe, an idempotency key completed in
//! the same transaction).

use std::fmt::Display;

use orbitpay_core::Backoff;
use tokio_util::sync::CancellationToken;

use crate::error::{ErrorClass, StoreError, TransientKind};
use crate::pool::PooledConnection;

/// An error a retried body may fail with: the database's verdict on it, if it is the
/// database's. Errors that are not (a session not found, a bad request) end the retry at once.
pub trait Retryable: Display {
    /// `None`: not a database failure; returned as it is, never retried or counted.
    fn db_class(&self) -> Option<ErrorClass>;

    /// The SQLSTATE behind it, for the log line.
    fn sqlstate(&self) -> Option<&str> {
        None
    }
}

impl Retryable for StoreError {
    fn db_class(&self) -> Option<ErrorClass> {
        Some(self.class())
    }

    fn sqlstate(&self) -> Option<&str> {
        StoreError::sqlstate(self)
    }
}

/// How long [`with_retry!`](crate::with_retry) keeps at it, and how long it waits between
/// attempts.
#[derive(Clone, Copy, Debug)]
pub struct Retry<'a> {
    /// Either fires: stop retrying (the caller's own stop and, say, its owner's shutdown).
    stops: [Option<&'a CancellationToken>; 2],
    /// `None`: until the error passes or a stop fires.
    attempts: Option<u32>,
    /// Attempt `n` (from 1) failed: wait `backoff.delay(n)`.
    backoff: Backoff,
}

impl<'a> Retry<'a> {
    /// Until the error passes or `stop` fires: work with nothing better to do than wait for
    /// the database (ingestion, jobs, the dispatcher).
    pub fn until(stop: &'a CancellationToken, backoff: Backoff) -> Retry<'a> {
        Retry {
            stops: [Some(stop), None],
            attempts: None,
            backoff,
        }
    }

    /// At most `attempts` attempts (at least 1): someone is waiting for an answer.
    pub fn attempts(attempts: u32, backoff: Backoff) -> Retry<'a> {
        Retry {
            stops: [None, None],
            attempts: Some(attempts.max(1)),
            backoff,
        }
    }

    /// Also stops when `stop` fires.
    pub fn or_until(mut self, stop: &'a CancellationToken) -> Retry<'a> {
        let slot = if self.stops[0].is_none() { 0 } else { 1 };
        self.stops[slot] = Some(stop);
        self
    }

    fn stopping(&self) -> bool {
        self.stops.iter().flatten().any(|s| s.is_cancelled())
    }

    async fn stopped(&self) {
        match self.stops {
            [Some(a), Some(b)] => tokio::select! {
                () = a.cancelled() => {},
                () = b.cancelled() => {},
            },
            [Some(a), None] | [None, Some(a)] => a.cancelled().await,
            [None, None] => std::future::pending().await,
        }
    }

    /// Called after attempt `attempt` (from 1) failed with `error`: `Ok` once the pause is
    /// over (try again), `Err(error)` to give up (fatal, out of attempts, or stopping).
    pub async fn after_failure<E: Retryable>(&self, error: E, attempt: u32) -> Result<(), E> {
        let Some(class) = error.db_class() else {
            return Err(error);
        };
        metrics::counter!("orbitpay_db_errors_total", "class" => class.as_str()).increment(1);
        if let ErrorClass::Fatal(_) = class {
            tracing::error!(error = %error, class = class.as_str(), sqlstate = error.sqlstate(),
                            "database error that a retry cannot cure");
            return Err(error);
        }
        let stopping = self.stopping();
        if stopping || self.attempts.is_some_and(|limit| attempt >= limit) {
            tracing::warn!(error = %error, class = class.as_str(), attempts = attempt, stopping,
                           "transient database error; not retrying further");
            return Err(error);
        }
        metrics::counter!("orbitpay_db_retries_total", "class" => class.as_str()).increment(1);
        let pause = self.backoff.delay(attempt);
        tracing::warn!(error = %error, class = class.as_str(), sqlstate = error.sqlstate(), attempt,
                       pause_ms = pause.as_millis() as u64, "transient database error; retrying");
        tokio::select! {
            () = self.stopped() => Err(error),
            () = tokio::time::sleep(pause) => Ok(()),
        }
    }
}

/// A connection that failed with what may be its own fault (the server it reaches went
/// read-only, shut down, or something unknown) is not given back to the pool: after a
/// failover only a new connection finds the new primary.
pub fn drop_if_suspect<E: Retryable>(pooled: PooledConnection, error: &E) {
    let suspect = matches!(
        error.db_class(),
        Some(ErrorClass::Transient(
            TransientKind::Failover | TransientKind::Connection | TransientKind::Other
        ))
    );
    if suspect {
        drop(PooledConnection::take(pooled));
    }
}

/// Runs `$body` (a store call on `$conn: &mut AsyncPgConnection`, returning
/// `Result<T, E>` with `E:` [`Retryable`] `+ From<StoreError>`) on a connection from `$pool`,
/// retrying transient errors as `$retry` ([`Retry`]) allows. Returns the body's result, or its
/// last error.
///
/// A macro rather than a closure-taking fn: the body borrows the caller's locals, and an
/// async closure's future cannot be proven `Send` for every lifetime of its argument, which
/// axum's handlers and spawned tasks need.
#[macro_export]
macro_rules! with_retry {
    ($pool:expr, $retry:expr, |$conn:ident| $body:expr) => {{
        let pool: &$crate::DbPool = &$pool;
        let retry: $crate::retry::Retry<'_> = $retry;
        let mut attempt = 0u32;
        loop {
            let result = match pool.get().await {
                Ok(mut pooled) => {
                    let result = {
                        let $conn: &mut $crate::AsyncPgConnection = &mut pooled;
                        $body.await
                    };
                    if let Err(e) = &result {
                        $crate::retry::drop_if_suspect(pooled, e);
                    }
                    result
                }
                Err(e) => Err(::core::convert::From::from($crate::StoreError::from(e))),
            };
            match result {
                Ok(value) => break Ok(value),
                Err(e) => {
                    attempt += 1;
                    if let Err(e) = retry.after_failure(e, attempt).await {
                        break Err(e);
                    }
                }
            }
        }
    }};
}
