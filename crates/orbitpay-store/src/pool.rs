//! The connection pool. Every connection is bounded by server-side timeouts so
//! a stuck query, a lock queue or a stalled transaction cannot hold row locks
//! (and a pool slot) forever: cancelling futures client-side does not do that.

use std::time::Duration;

use diesel::ConnectionResult;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};

use crate::StoreError;

pub type DbPool = diesel_async::pooled_connection::deadpool::Pool<AsyncPgConnection>;
pub type PooledConnection = diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>;

/// Server-side limits applied to every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// Longest a single statement may run (0 disables; don't).
    pub statement_timeout: Duration,
    /// Longest a statement waits for a row or table lock.
    pub lock_timeout: Duration,
    /// A transaction left idle this long is killed and its locks freed.
    pub idle_in_transaction_session_timeout: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            statement_timeout: Duration::from_secs(30),
            lock_timeout: Duration::from_secs(5),
            idle_in_transaction_session_timeout: Duration::from_secs(60),
        }
    }
}

impl SessionSettings {
    pub(crate) fn sql(&self) -> String {
        format!(
            "SET statement_timeout = {}; SET lock_timeout = {}; \
             SET idle_in_transaction_session_timeout = {}",
            millis(self.statement_timeout),
            millis(self.lock_timeout),
            millis(self.idle_in_transaction_session_timeout),
        )
    }
}

/// Rounds up: a sub-millisecond limit must not become 0, which PostgreSQL
/// reads as "no limit".
fn millis(d: Duration) -> u128 {
    if d.is_zero() { 0 } else { d.as_millis().max(1) }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// At least 2: a task that needs a second connection while holding one
    /// would otherwise deadlock the pool.
    pub max_size: usize,
    /// How long a caller waits for a free connection.
    pub wait_timeout: Duration,
    /// How long opening a new connection (including the SETs) may take.
    pub create_timeout: Duration,
    /// How long recycling a reused connection may take.
    pub recycle_timeout: Duration,
    pub session: SessionSettings,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_size: 10,
            wait_timeout: Duration::from_secs(10),
            create_timeout: Duration::from_secs(10),
            recycle_timeout: Duration::from_secs(5),
            session: SessionSettings::default(),
        }
    }
}

/// Builds the pool. Connects lazily: a database that is down surfaces on first
/// use, as a retryable error.
pub fn build_pool(database_url: &str, config: &PoolConfig) -> Result<DbPool, StoreError> {
    if config.max_size < 2 {
        return Err(StoreError::PoolConfig(format!(
            "max_size must be at least 2, got {}",
            config.max_size
        )));
    }
    let settings = config.session;
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    // No `SELECT 1` on every checkout (a round trip before each transaction: two per payment).
    // A connection whose socket closed or whose transaction broke is still refused on return;
    // one that dies unseen fails its first query, which every caller retries as transient.
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        Box::pin(async move { establish(&url, &settings).await })
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        database_url,
        manager_config,
    );
    DbPool::builder(manager)
        .max_size(config.max_size)
        // Without a runtime every timeout below fails the build.
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(config.wait_timeout))
        .create_timeout(Some(config.create_timeout))
        .recycle_timeout(Some(config.recycle_timeout))
        .build()
        .map_err(|e| StoreError::PoolConfig(e.to_string()))
}

/// Opens one connection with the session limits applied. The pool and the
/// test harness both connect through here, so every connection's server errors
/// carry their SQLSTATE (see [`crate::sqlstate`]), and TLS as the URL's `sslmode` asks (see
/// [`crate::tls`]).
pub async fn establish(
    database_url: &str,
    settings: &SessionSettings,
) -> ConnectionResult<AsyncPgConnection> {
    let mut conn = crate::connect::connect(database_url).await?;
    conn.batch_execute(&settings.sql())
        .await
        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}
