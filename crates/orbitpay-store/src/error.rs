//! The store's error type and the retry classification the matcher relies on.
//!
//! Classification reads the SQLSTATE (see [`crate::sqlstate`]), never the server's words,
//! which are translated under a non-English `lc_messages`. Only a fault in the data itself is
//! fatal; everything else (the server, the network, the pool, contention) passes, so it is
//! retried.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::PoolError as BackendError;
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
    /// See [`crate::encoding`].
    #[error(
        "database {database:?} has encoding {encoding}, not UTF8: payers' text that {encoding} \
         cannot hold would fail to store (22P05) and halt its account. Create a UTF8 database \
         (CREATE DATABASE ... ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' \
         TEMPLATE template0), move any data into it (pg_dump, then pg_restore), and point \
         database.url at it"
    )]
    DatabaseEncoding { database: String, encoding: String },
    /// The LISTEN of a [`crate::listen::Listener`] failed.
    #[error("cannot LISTEN: {0}")]
    Listen(String),
    /// A statement on the leadership connection ([`crate::advisory::LockSession`]) failed: the
    /// connection, and every lock on it, may be gone.
    #[error("leadership connection: {0}")]
    Leadership(String),
    /// A row that passed the table's constraints still failed the domain's
    /// stricter parsing (or the other way round): a bug or a manual edit.
    #[error("stored row violates a domain invariant: {0}")]
    Corrupt(String),
    #[error("no free reference for the account after {attempts} attempts")]
    ReferenceSpaceExhausted { attempts: u32 },
    /// A write that the state machine forbids; the row lock makes this a bug, not a race.
    #[error(transparent)]
    IllegalTransition(#[from] orbitpay_core::IllegalTransition),
    #[error("blocking database task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl StoreError {
    /// Whether the same work, retried on a fresh transaction (and perhaps a
    /// fresh connection), may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.class(), ErrorClass::Transient(_))
    }

    pub fn class(&self) -> ErrorClass {
        use ErrorClass::{Fatal, Transient};
        match self {
            StoreError::Query(e) => classify(e),
            StoreError::Connect(e) => classify_connection(e),
            StoreError::Pool(e) => match e {
                PoolError::Backend(BackendError::ConnectionError(e)) => classify_connection(e),
                PoolError::Backend(BackendError::QueryError(e)) => classify(e),
                // Only a pool built without a runtime; build_pool always sets one.
                PoolError::NoRuntimeSpecified => Fatal(FatalKind::Internal),
                _ => Transient(TransientKind::Pool),
            },
            StoreError::Corrupt(_) => Fatal(FatalKind::Corrupt),
            StoreError::IllegalTransition(_) => Fatal(FatalKind::IllegalTransition),
            // References are drawn at random: another round may find one.
            StoreError::ReferenceSpaceExhausted { .. } => Transient(TransientKind::Resources),
            StoreError::Listen(_) | StoreError::Leadership(_) => {
                Transient(TransientKind::Connection)
            }
            StoreError::PoolConfig(_)
            | StoreError::Migration(_)
            | StoreError::SchemaTooNew { .. }
            | StoreError::DatabaseEncoding { .. }
            | StoreError::Task(_) => Fatal(FatalKind::Internal),
        }
    }

    /// The SQLSTATE of the server error behind this one, if the server sent one.
    pub fn sqlstate(&self) -> Option<&str> {
        fn of(e: &DieselError) -> Option<&str> {
            match e {
                DieselError::DatabaseError(_, info) => crate::sqlstate::code(info.as_ref()),
                DieselError::RollbackErrorOnCommit { commit_error, .. } => of(commit_error),
                _ => None,
            }
        }
        match self {
            StoreError::Query(e)
            | StoreError::Connect(diesel::ConnectionError::CouldntSetupConfiguration(e))
            | StoreError::Pool(PoolError::Backend(BackendError::QueryError(e)))
            | StoreError::Pool(PoolError::Backend(BackendError::ConnectionError(
                diesel::ConnectionError::CouldntSetupConfiguration(e),
            ))) => of(e),
            _ => None,
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
    /// Roll back and run the whole transaction again (after a backoff), as long as it takes.
    Transient(TransientKind),
    /// Retrying cannot help: the record, a stored row or the code is at fault.
    Fatal(FatalKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransientKind {
    /// Class 08, a socket lost or refused, 57P05 idle_session_timeout.
    Connection,
    /// The server is going away or is not the primary: 25006 read_only_sql_transaction,
    /// 57P01 admin_shutdown (also `pg_terminate_backend`), 57P02 crash_shutdown,
    /// 57P03 cannot_connect_now, 57P04 database_dropped. The connection is worth replacing.
    Failover,
    /// Class 53 (53300 too_many_connections, disk full, out of memory).
    Resources,
    /// 57014 query_canceled: an operator's cancel, or statement_timeout.
    Canceled,
    /// 55P03 lock_not_available (lock_timeout, NOWAIT), 25P03 idle-in-transaction timeout.
    Timeout,
    /// 40001 serialization_failure and the other rollbacks of class 40.
    Serialization,
    /// 40P01 deadlock_detected.
    Deadlock,
    /// No pooled connection in time, or the pool is closed.
    Pool,
    /// Any other server condition (privileges, a missing object, an internal error): not the
    /// record's fault, so it may pass once someone fixes the server.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatalKind {
    /// Class 23 (and 40002, a deferred one at commit). The unique violations the store turns
    /// into outcomes never get here.
    Constraint,
    /// Class 22: a value the column or the arithmetic cannot take.
    DataException,
    /// XX001 data_corrupted, XX002 index_corrupted, or a stored row that fails its domain type.
    Corrupt,
    /// A state change the session machine forbids (our own check).
    IllegalTransition,
    /// A client-side bug or setup error (query building, pool or migration setup).
    Internal,
}

impl ErrorClass {
    /// Stable label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient(k) => k.as_str(),
            ErrorClass::Fatal(k) => k.as_str(),
        }
    }
}

impl TransientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransientKind::Connection => "connection",
            TransientKind::Failover => "failover",
            TransientKind::Resources => "resources",
            TransientKind::Canceled => "canceled",
            TransientKind::Timeout => "timeout",
            TransientKind::Serialization => "serialization",
            TransientKind::Deadlock => "deadlock",
            TransientKind::Pool => "pool",
            TransientKind::Other => "other",
        }
    }
}

impl FatalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FatalKind::Constraint => "constraint",
            FatalKind::DataException => "data_exception",
            FatalKind::Corrupt => "corrupt",
            FatalKind::IllegalTransition => "illegal_transition",
            FatalKind::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The class of a SQLSTATE.
pub fn classify_sqlstate(code: &str) -> ErrorClass {
    use ErrorClass::{Fatal, Transient};
    match code {
        "40P01" => Transient(TransientKind::Deadlock),
        "40002" => Fatal(FatalKind::Constraint),
        "25006" | "57P01" | "57P02" | "57P03" | "57P04" => Transient(TransientKind::Failover),
        "57014" => Transient(TransientKind::Canceled),
        "55P03" | "25P03" => Transient(TransientKind::Timeout),
        "57P05" => Transient(TransientKind::Connection),
        "XX001" | "XX002" => Fatal(FatalKind::Corrupt),
        _ => match code.get(..2) {
            Some("23") => Fatal(FatalKind::Constraint),
            Some("22") => Fatal(FatalKind::DataException),
            Some("40") => Transient(TransientKind::Serialization),
            Some("08") => Transient(TransientKind::Connection),
            Some("53") => Transient(TransientKind::Resources),
            _ => Transient(TransientKind::Other),
        },
    }
}

/// Classifies a query error for retry.
pub fn classify(error: &DieselError) -> ErrorClass {
    use ErrorClass::{Fatal, Transient};
    match error {
        DieselError::DatabaseError(kind, info) => match crate::sqlstate::code(info.as_ref()) {
            Some(code) => classify_sqlstate(code),
            None => classify_kind(kind),
        },
        // The connection is discarded by the pool; a fresh one can succeed.
        DieselError::BrokenTransactionManager => Transient(TransientKind::Connection),
        DieselError::RollbackErrorOnCommit { commit_error, .. } => classify(commit_error),
        // A stored value that does not read back as its Rust type, or a value that cannot be
        // sent (a NUL in a C string).
        DieselError::DeserializationError(_)
        | DieselError::SerializationError(_)
        | DieselError::InvalidCString(_) => Fatal(FatalKind::Corrupt),
        _ => Fatal(FatalKind::Internal),
    }
}

/// Without a SQLSTATE: a client-side failure (diesel-async reports a lost socket as
/// `UnableToSendCommand`), or a connection not opened by [`crate::establish`], where diesel's
/// typed kinds are all there is.
fn classify_kind(kind: &DatabaseErrorKind) -> ErrorClass {
    use ErrorClass::{Fatal, Transient};
    match kind {
        DatabaseErrorKind::UniqueViolation
        | DatabaseErrorKind::ForeignKeyViolation
        | DatabaseErrorKind::NotNullViolation
        | DatabaseErrorKind::CheckViolation
        | DatabaseErrorKind::RestrictViolation
        | DatabaseErrorKind::ExclusionViolation => Fatal(FatalKind::Constraint),
        DatabaseErrorKind::SerializationFailure => Transient(TransientKind::Serialization),
        DatabaseErrorKind::ReadOnlyTransaction => Transient(TransientKind::Failover),
        DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection => {
            Transient(TransientKind::Connection)
        }
        _ => Transient(TransientKind::Other),
    }
}

fn classify_connection(error: &diesel::ConnectionError) -> ErrorClass {
    match error {
        // Refused, reset or timed out while the server restarts or moves.
        diesel::ConnectionError::BadConnection(_) => {
            ErrorClass::Transient(TransientKind::Connection)
        }
        diesel::ConnectionError::CouldntSetupConfiguration(e) => classify(e),
        _ => ErrorClass::Fatal(FatalKind::Internal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorClass::{Fatal, Transient};

    /// The codes the tests cannot provoke on demand (a crash, a full disk, a corrupt page).
    #[test]
    fn codes_map_to_their_class() {
        let cases = [
            ("57P02", Transient(TransientKind::Failover)),
            ("57P03", Transient(TransientKind::Failover)),
            ("53100", Transient(TransientKind::Resources)),
            ("53200", Transient(TransientKind::Resources)),
            ("08006", Transient(TransientKind::Connection)),
            ("08001", Transient(TransientKind::Connection)),
            ("40003", Transient(TransientKind::Serialization)),
            ("25P03", Transient(TransientKind::Timeout)),
            ("42501", Transient(TransientKind::Other)),
            ("XX000", Transient(TransientKind::Other)),
            ("23502", Fatal(FatalKind::Constraint)),
            ("40002", Fatal(FatalKind::Constraint)),
            ("22P02", Fatal(FatalKind::DataException)),
            ("XX001", Fatal(FatalKind::Corrupt)),
            ("XX002", Fatal(FatalKind::Corrupt)),
        ];
        for (code, class) in cases {
            assert_eq!(classify_sqlstate(code), class, "{code}");
        }
    }
}
