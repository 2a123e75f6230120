//! The handlers' database access: the store's one retry ([`orbitpay_store::with_retry!`]) on
//! the admin pool, with a small budget, since a request must answer.
//!
//! A transient failure met once (a connection ended by a failover or `pg_terminate_backend`,
//! a deadlock) is retried on a fresh connection and the request succeeds; one that outlasts
//! the budget answers 503 DATABASE_UNAVAILABLE with `Retry-After`, and the client retries.

use std::time::Duration;

use orbitpay_core::{Backoff, Jitter};
use orbitpay_store::retry::Retry;

/// Attempts of a handler's database work before it answers 503.
pub(crate) const ATTEMPTS: u32 = 3;

/// Full jitter from 50 ms: the three attempts take well under a second beyond the calls
/// themselves.
const BACKOFF: Backoff = Backoff::new(
    Duration::from_millis(50),
    Duration::from_millis(500),
    Jitter::Full,
);

/// The budget of a handler's database work.
pub(crate) fn budget() -> Retry<'static> {
    Retry::attempts(ATTEMPTS, BACKOFF)
}

/// Runs `$body` (on `$conn: &mut AsyncPgConnection`, returning `Result<T, ApiError>`) on a
/// connection of `$state`'s pool within the handlers' [`budget`]. The body runs again after a
/// transient failure, so it must be one transaction or reads only.
macro_rules! with_db {
    ($state:expr, |$conn:ident| $body:expr) => {
        orbitpay_store::with_retry!($state.pool, $crate::admin::support::db::budget(), |$conn| {
            $body
        })
    };
}
pub(crate) use with_db;
