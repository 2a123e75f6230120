//! A fresh PostgreSQL database per test.
//!
//! Each [`TestDb`] is `CREATE DATABASE ... TEMPLATE` of a template migrated
//! once: cloning is ~100x cheaper than migrating, and every test gets a
//! private schema it may break. The template's name hashes the migrations, so
//! editing a migration builds a new one instead of testing against a stale
//! schema.
//!
//! The server is `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); when nothing answers there,
//! or `ORBITPAY_TEST_PG=throwaway`, a private cluster is started with the
//! machine's `initdb`/`pg_ctl` and shared by every test process. Set
//! `ORBITPAY_TEST_KEEP_DB=1` to keep test databases for inspection.

pub mod certs;
mod cluster;
pub mod daemon;
pub mod receiver;
mod server;
mod tls_server;

use anyhow::Context as _;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, SimpleAsyncConnection as _};
use orbitpay_store::{DbPool, PoolConfig, SessionSettings};

pub use cluster::{Cluster, ClusterError, ServerTls};
pub use server::{Server, ServerKind, server};
pub use tls_server::TlsServer;

/// A database that exists for the lifetime of this value.
pub struct TestDb {
    name: String,
    url: String,
    admin_url: String,
    pool: DbPool,
}

impl TestDb {
    /// A migrated database. Panics (it is a test fixture) with the cause.
    pub async fn new() -> TestDb {
        match Self::try_new().await {
            Ok(db) => db,
            Err(e) => panic!("cannot create a test database: {e:#}"),
        }
    }

    /// A database with no schema at all, for migration tests.
    pub async fn empty() -> TestDb {
        match Self::create("template0", "").await {
            Ok(db) => db,
            Err(e) => panic!("cannot create an empty test database: {e:#}"),
        }
    }

    /// An empty database in another encoding (`LATIN1`), with the C locale (which fits any
    /// encoding), for the start-up check that refuses it.
    pub async fn empty_with_encoding(encoding: &str) -> TestDb {
        let options = format!("ENCODING '{encoding}' LC_COLLATE 'C' LC_CTYPE 'C'");
        match Self::create("template0", &options).await {
            Ok(db) => db,
            Err(e) => panic!("cannot create a {encoding} test database: {e:#}"),
        }
    }

    pub async fn try_new() -> anyhow::Result<TestDb> {
        Self::create(&server().await?.template, "").await
    }

    async fn create(template: &str, options: &str) -> anyhow::Result<TestDb> {
        let server = server().await?;
        let name = format!("orbitpay_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AsyncPgConnection::establish(&server.admin_url)
            .await
            .context("connecting to the maintenance database")?;
        server::create_database(&mut admin, &name, template, options).await?;
        let url = server::database_url(&server.admin_url, &name)?;
        let pool = orbitpay_store::build_pool(
            &url,
            &PoolConfig {
                max_size: 4,
                ..PoolConfig::default()
            },
        )?;
        Ok(TestDb {
            name,
            url,
            admin_url: server.admin_url.clone(),
            pool,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A pool configured like the daemon's (built lazily per call site's
    /// runtime: connections open on first use).
    pub fn pool(&self) -> DbPool {
        self.pool.clone()
    }

    /// A dedicated connection with the daemon's session settings.
    pub async fn conn(&self) -> AsyncPgConnection {
        match orbitpay_store::establish(&self.url, &SessionSettings::default()).await {
            Ok(conn) => conn,
            Err(e) => panic!("cannot connect to test database {}: {e}", self.name),
        }
    }

    /// The value of a scalar SQL expression, as i64 (`count(*) FROM ...` reads naturally).
    pub async fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        use diesel_async::RunQueryDsl as _;
        diesel::sql_query(format!("SELECT ({sql})::bigint AS n"))
            .get_result::<N>(&mut self.conn().await)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .n
    }

    /// Runs statements that must succeed (test setup: back-dating rows, injecting states).
    pub async fn exec(&self, sql: &str) {
        use diesel_async::SimpleAsyncConnection as _;
        self.conn()
            .await
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::env::var_os("ORBITPAY_TEST_KEEP_DB").is_some() {
            eprintln!("keeping test database {}", self.url);
            return;
        }
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop cannot await, and blocking on the test's own runtime would
        // deadlock a current-thread runtime: use a private one on a thread.
        let dropper = std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = AsyncPgConnection::establish(&admin_url).await?;
                // FORCE: the test's pool may still hold connections.
                admin
                    .batch_execute(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        server::quote_ident(&name)
                    ))
                    .await?;
                Ok(())
            })
        });
        match dropper.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e:#}", self.name),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}
