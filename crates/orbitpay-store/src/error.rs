//! The store's error type and the retry classification the matcher relies on.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::PoolError;

/// Everything the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database query failed: {0}")]
    Query(#[from] DieselError),
    #[error("could not connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("no database connection: {0}")]
    Pool(#[from] PoolError),
    #[error("invalid pool configuration: {0}")]
    PoolConfig(String),
    #[error("migration failed: {0}")]
    Migration(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database holds migrations this binary does not know: it was migrated
    /// by a newer release. Running against it could misread its data.
    #[error("database schema is newer than this binary (unknown migrations: {})", unknown.join(", "))]
    SchemaTooNew { unknown: Vec<String> },
    /// A row that passed the table's constraints still failed the domain's
    /// stricter parsing (or the other way round): a bug or a manual edit.
    #[error("stored row violates a domain invariant: {0}")]
    Corrupt(String),
    #[error("no free reference for the account after {attempts} attempts")]
    ReferenceSpaceExhausted { attempts: u32 },
    /// A write that the state machine forbids; the row lock makes this a bug, not a race.
    #[error(transparent)]
    IllegalTransition(#[from] orbitpay_core::IllegalTransition),
    #[error("session {0}: amount received would overflow int64 stroops")]
    AmountOverflow(uuid::Uuid),
    #[error("blocking database task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl StoreError {
    /// Whether the same work, retried on a fresh transaction (and perhaps a
    /// fresh connection), may succeed.
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }

    pub fn class(&self) -> ErrorClass {
        match self {
            StoreError::Query(e) => classify(e),
            StoreError::Connect(e) => classify_connection(e),
            StoreError::Pool(e) => match e {
                PoolError::Timeout(_) => ErrorClass::Retryable,
                PoolError::Backend(
                    diesel_async::pooled_connection::PoolError::ConnectionError(e),
                ) => classify_connection(e),
                PoolError::Backend(diesel_async::pooled_connection::PoolError::QueryError(e)) => {
                    classify(e)
                }
                _ => ErrorClass::Fatal,
            },
            _ => ErrorClass::Fatal,
        }
    }

    /// The violated constraint's name, for callers that turn a specific unique
    /// violation into a domain outcome.
    pub fn constraint_name(&self) -> Option<&str> {
        match self {
            StoreError::Query(DieselError::DatabaseError(_, info)) => info.constraint_name(),
            _ => None,
        }
    }
}

/// What the matcher's retry policy does with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Transient: roll back and run the whole transaction again.
    Retryable,
    /// Retrying cannot help (bad data, a bug, a constraint that holds).
    Fatal,
}

/// Server messages of the errors diesel-async leaves as `Unknown`.
///
/// diesel's error type carries no SQLSTATE, so the message is all there is.
/// These are PostgreSQL's untranslated messages: the server's `lc_messages`
/// must be English (`C`/`en_*`, the default of every packaged cluster), or
/// these errors degrade to `Fatal`, the safe direction.
const RETRYABLE_MESSAGES: &[&str] = &[
    // 40P01 deadlock_detected
    "deadlock detected",
    // 55P03 lock_not_available (lock_timeout, NOWAIT)
    "canceling statement due to lock timeout",
    "could not obtain lock on",
    // 57014 query_canceled (statement_timeout)
    "canceling statement due to statement timeout",
    // 57P01 admin_shutdown (pg_terminate_backend, fast shutdown)
    "terminating connection due to administrator command",
    // 25P03 idle_in_transaction_session_timeout
    "terminating connection due to idle-in-transaction timeout",
    // 57P03 cannot_connect_now; 57P02 crash_shutdown
    "the database system is",
    "terminating connection because of crash of another server process",
    // 40001 raised as conflict with recovery on a standby
    "due to conflict with recovery",
];

/// Classifies a query error for retry.
pub fn classify(error: &DieselError) -> ErrorClass {
    match error {
        DieselError::DatabaseError(kind, info) => match kind {
            DatabaseErrorKind::SerializationFailure
            | DatabaseErrorKind::UnableToSendCommand
            | DatabaseErrorKind::ClosedConnection => ErrorClass::Retryable,
            DatabaseErrorKind::Unknown
                if RETRYABLE_MESSAGES
                    .iter()
                    .any(|m| info.message().contains(m)) =>
            {
                ErrorClass::Retryable
            }
            _ => ErrorClass::Fatal,
        },
        // The connection is discarded by the pool; a fresh one can succeed.
        DieselError::BrokenTransactionManager => ErrorClass::Retryable,
        DieselError::RollbackErrorOnCommit { commit_error, .. } => classify(commit_error),
        _ => ErrorClass::Fatal,
    }
}

fn classify_connection(error: &diesel::ConnectionError) -> ErrorClass {
    match error {
        // Refused or reset while the server restarts.
        diesel::ConnectionError::BadConnection(_) => ErrorClass::Retryable,
        diesel::ConnectionError::CouldntSetupConfiguration(e) => classify(e),
        _ => ErrorClass::Fatal,
    }
}
