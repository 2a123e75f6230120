//! orbitpay's PostgreSQL store: schema, migrations, pool and queries.
//!
//! Query functions take `&mut AsyncPgConnection`, never the pool, so callers
//! compose them inside one transaction
//! (`conn.transaction(async |conn| { ... }).await`).

pub mod advisory;
mod connect;
pub mod cursors;
pub mod deliveries;
pub mod error;
pub mod idempotency;
pub mod migrations;
pub mod models;
pub mod numeric;
pub mod outbox;
pub mod payments;
pub mod pool;
pub mod schema;
pub mod sessions;
pub mod settlement;
pub mod sqlstate;
pub mod stats;
pub mod unmatched;
pub mod unreadable;
pub mod webhook_admin;

pub use diesel_async::AsyncPgConnection;
pub use error::{ErrorClass, FatalKind, StoreError, TransientKind, classify, classify_sqlstate};
pub use migrations::{SchemaStatus, pending_or_unknown, revert_all_migrations, run_migrations};
pub use models::{ClaimSource, Session};
pub use pool::{DbPool, PoolConfig, PooledConnection, SessionSettings, build_pool, establish};
