//! Schema migrations, embedded in the binary so a release always carries the
//! schema it was built for.
//!
//! diesel_migrations is synchronous: it runs on an `AsyncConnectionWrapper`
//! inside `spawn_blocking` (diesel-async's `AsyncMigrationHarness` panics on
//! a current-thread runtime, which every `#[tokio::test]` uses).

use std::collections::BTreeSet;

use diesel::pg::Pg;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::StoreError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Serialises concurrent migrators (two daemons starting at once) on one
/// database; advisory locks are scoped to the current database.
const MIGRATION_LOCK_KEY: i64 = 0x6f72_6269_746d_6967; // "orbitmig"

type SyncPg = AsyncConnectionWrapper<AsyncPgConnection>;

/// Where the database's schema stands relative to this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaStatus {
    Current,
    /// Migrations this binary carries that are not applied yet.
    Behind {
        pending: Vec<String>,
    },
    /// Applied migrations this binary does not know: a newer release migrated
    /// this database. The daemon must refuse to run.
    Newer {
        unknown: Vec<String>,
    },
}

/// The versions of the migrations embedded in this binary, oldest first.
pub fn known_versions() -> Result<Vec<String>, StoreError> {
    let migrations = diesel::migration::MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .map_err(StoreError::Migration)?;
    let mut versions: Vec<String> = migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    versions.sort();
    Ok(versions)
}

/// Applies pending migrations; returns the versions applied. Refuses a
/// database that a newer release has migrated, or one that is not UTF8
/// ([`crate::encoding`]): every start migrates first.
pub async fn run_migrations(database_url: &str) -> Result<Vec<String>, StoreError> {
    let mut conn = crate::connect::connect(database_url).await?;
    crate::encoding::check_utf8(&mut conn).await?;
    with_sync_connection(conn, |conn| {
        let applied = conn.applied_migrations().map_err(StoreError::Migration)?;
        let unknown = unknown_versions(&known_versions()?, applied.iter().map(|v| v.to_string()));
        if !unknown.is_empty() {
            return Err(StoreError::SchemaTooNew { unknown });
        }
        let ran = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(StoreError::Migration)?;
        Ok(ran.iter().map(|v| v.to_string()).collect())
    })
    .await
}

/// Reverts every applied migration, newest first. For tests of down.sql.
pub async fn revert_all_migrations(database_url: &str) -> Result<Vec<String>, StoreError> {
    let conn = crate::connect::connect(database_url).await?;
    with_sync_connection(conn, |conn| {
        let reverted = conn
            .revert_all_migrations(MIGRATIONS)
            .map_err(StoreError::Migration)?;
        Ok(reverted.iter().map(|v| v.to_string()).collect())
    })
    .await
}

/// Compares the applied migrations with the embedded ones without writing
/// anything (diesel's harness would create its bookkeeping table).
pub async fn pending_or_unknown(conn: &mut AsyncPgConnection) -> Result<SchemaStatus, StoreError> {
    use diesel::sql_types::{Bool, Text};
    use diesel_async::RunQueryDsl as _;

    #[derive(diesel::QueryableByName)]
    struct Present {
        #[diesel(sql_type = Bool)]
        present: bool,
    }

    #[derive(diesel::QueryableByName)]
    struct Version {
        #[diesel(sql_type = Text)]
        version: String,
    }

    let table = diesel::sql_query(
        "SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS present",
    )
    .get_result::<Present>(conn)
    .await?;
    let applied: Vec<Version> = if table.present {
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
            .load(conn)
            .await?
    } else {
        Vec::new()
    };
    let known = known_versions()?;
    let unknown = unknown_versions(&known, applied.iter().map(|v| v.version.clone()));
    if !unknown.is_empty() {
        return Ok(SchemaStatus::Newer { unknown });
    }
    let applied: BTreeSet<String> = applied.into_iter().map(|v| v.version).collect();
    let pending: Vec<String> = known.into_iter().filter(|v| !applied.contains(v)).collect();
    if pending.is_empty() {
        Ok(SchemaStatus::Current)
    } else {
        Ok(SchemaStatus::Behind { pending })
    }
}

fn unknown_versions(known: &[String], applied: impl Iterator<Item = String>) -> Vec<String> {
    let mut unknown: Vec<String> = applied.filter(|v| !known.contains(v)).collect();
    unknown.sort();
    unknown
}

/// `conn` is opened by the store ([`crate::connect`], with TLS): the wrapper's own `establish`
/// would open a plain one.
async fn with_sync_connection<T, F>(conn: AsyncPgConnection, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut SyncPg) -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        use diesel::RunQueryDsl as _;

        // Made here, on the blocking thread, so it blocks on the caller's runtime's handle.
        let mut conn = SyncPg::from(conn);
        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
            .execute(&mut conn)?;
        let result = work(&mut conn);
        // Closing the connection releases the lock too; unlocking explicitly
        // just avoids holding it if the wrapper outlives us.
        let unlocked =
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                .execute(&mut conn);
        let value = result?;
        unlocked?;
        Ok(value)
    })
    .await?
}
