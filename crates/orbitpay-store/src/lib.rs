//! orbitpay's PostgreSQL store: schema, migrations, pool and queries.
//!
//! Query functions take `&mut AsyncPgConnection`, never the pool, so callers
//! compose them inside one transaction
//! (`conn.transaction(async |conn| { ... }).await`).

pub mod accounts;
pub mod advisory;
mod connect;
pub mod crash;
pub mod cursors;
pub mod deliveries;
pub mod encoding;
pub mod error;
pub mod events;
pub mod expiry;
pub mod feed;
pub mod idempotency;
pub mod listen;
pub mod migrations;
pub mod models;
pub mod numeric;
pub mod outbox;
pub mod payments;
pub mod pool;
pub(crate) mod prepared;
pub mod recovery;
pub mod refund_lists;
pub mod refunds;
pub mod retention;
pub mod retry;
pub mod schema;
pub mod session_search;
pub mod sessions;
pub mod settlement;
pub mod sqlstate;
pub mod stats;
pub mod timeline;
pub mod tls;
pub mod today;
pub mod unmatched;
pub mod unreadable;
pub mod webhook_admin;

pub use diesel_async::AsyncPgConnection;
pub use error::{ErrorClass, FatalKind, StoreError, TransientKind, classify, classify_sqlstate};
pub use migrations::{SchemaStatus, pending_or_unknown, revert_all_migrations, run_migrations};
pub use models::{ClaimSource, Session};
pub use pool::{DbPool, PoolConfig, PooledConnection, SessionSettings, build_pool, establish};

/// A duration as a PostgreSQL interval, for "older than X" against the database's `now()`.
pub(crate) fn interval(age: std::time::Duration) -> diesel::data_types::PgInterval {
    diesel::data_types::PgInterval::from_microseconds(
        i64::try_from(age.as_micros()).unwrap_or(i64::MAX),
    )
}
