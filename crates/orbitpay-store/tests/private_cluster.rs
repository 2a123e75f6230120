//! Error classes that need a server of their own: a full connection table, a restart, a
//! crash, a server speaking German. Each test starts a private cluster in a tempdir, so the shared
//! server is never stopped or reconfigured.

use std::time::Duration;

use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use orbitpay_store::{
    ErrorClass, FatalKind, PoolConfig, SessionSettings, StoreError, TransientKind, establish,
};
use orbitpay_testkit::Cluster;

/// A running private cluster, stopped when dropped.
struct Private {
    cluster: Cluster,
    _dir: tempfile::TempDir,
}

impl Private {
    async fn start(configure: impl FnOnce(Cluster) -> Cluster) -> Private {
        let dir = tempfile::tempdir().unwrap();
        let cluster = configure(Cluster::at(dir.path().join("pg")));
        let cluster = tokio::task::spawn_blocking(move || cluster.ensure_running())
            .await
            .unwrap()
            .unwrap();
        Private { cluster, _dir: dir }
    }

    fn url(&self) -> String {
        self.cluster.url()
    }

    async fn connect(&self) -> Result<AsyncPgConnection, StoreError> {
        Ok(establish(&self.url(), &SessionSettings::default()).await?)
    }

    async fn stop(&self) {
        let cluster = self.cluster.clone();
        tokio::task::spawn_blocking(move || cluster.stop())
            .await
            .unwrap()
            .unwrap();
    }

    async fn crash(&self) {
        let cluster = self.cluster.clone();
        tokio::task::spawn_blocking(move || cluster.stop_immediate())
            .await
            .unwrap()
            .unwrap();
    }

    async fn restart(&self) {
        let cluster = self.cluster.clone();
        tokio::task::spawn_blocking(move || cluster.ensure_running())
            .await
            .unwrap()
            .unwrap();
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
    }
}

#[tokio::test]
async fn a_full_connection_table_is_resource_exhaustion() {
    let pg = Private::start(|c| {
        c.setting("max_connections = 3")
            .setting("superuser_reserved_connections = 0")
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(pg.connect().await.unwrap());
    }

    let direct = pg.connect().await.map(|_| ()).unwrap_err();
    let pool = orbitpay_store::build_pool(&pg.url(), &PoolConfig::default()).unwrap();
    let pooled = StoreError::from(pool.get().await.map(|_| ()).unwrap_err());

    for err in [direct, pooled] {
        assert_eq!(err.sqlstate(), Some("53300"), "{err:?}");
        assert_eq!(
            err.class(),
            ErrorClass::Transient(TransientKind::Resources),
            "{err:?}"
        );
    }
    // A slot frees: the same pool connects.
    held.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _conn = pool.get().await.unwrap();
}

#[tokio::test]
async fn a_restart_is_retried_from_shutdown_to_recovery() {
    let pg = Private::start(|c| c).await;
    let pool = orbitpay_store::build_pool(
        &pg.url(),
        &PoolConfig {
            create_timeout: Duration::from_secs(2),
            ..PoolConfig::default()
        },
    )
    .unwrap();
    let mut busy = pg.connect().await.unwrap();
    pool.get()
        .await
        .unwrap()
        .batch_execute("SELECT 1")
        .await
        .unwrap();

    // A fast shutdown ends the running query with 57P01.
    let (running, ()) = tokio::join!(busy.batch_execute("SELECT pg_sleep(30)"), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        pg.stop().await;
    });
    let shutdown = StoreError::from(running.unwrap_err());
    assert_eq!(shutdown.sqlstate(), Some("57P01"), "{shutdown:?}");
    assert_eq!(
        shutdown.class(),
        ErrorClass::Transient(TransientKind::Failover)
    );

    // While it is down: nothing listens.
    let down = pool.get().await.map(|_| ()).unwrap_err();
    let down = StoreError::from(down);
    assert_eq!(
        down.class(),
        ErrorClass::Transient(TransientKind::Connection),
        "{down:?}"
    );

    pg.restart().await;
    let mut conn = pool.get().await.unwrap();
    conn.batch_execute("SELECT 1").await.unwrap();
}

#[tokio::test]
async fn a_committed_row_survives_an_immediate_stop() {
    let pg = Private::start(|c| c).await;
    let mut conn = pg.connect().await.unwrap();
    conn.batch_execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)")
        .await
        .unwrap();

    // A crash: the running query's connection just ends.
    let (running, ()) = tokio::join!(conn.batch_execute("SELECT pg_sleep(30)"), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        pg.crash().await;
    });
    assert!(running.is_err());

    pg.restart().await;
    let log = std::fs::read_to_string(pg.cluster.dir().join("postgres.log")).unwrap();
    assert!(
        log.contains("automatic recovery in progress"),
        "the restart replayed the WAL of a crash:\n{log}"
    );
    let mut conn = pg.connect().await.unwrap();
    conn.batch_execute(
        "DO $$ BEGIN IF (SELECT count(*) FROM kept) <> 1 THEN RAISE 'lost'; END IF; END $$",
    )
    .await
    .unwrap();
}

/// Needs PostgreSQL's German catalogue (`postgres-15.mo`). glibc translates under any
/// locale but `C`: `lc_messages = 'C.utf8'` plus `LANGUAGE=de` needs no generated locale.
#[tokio::test]
async fn a_german_server_is_classified_the_same() {
    let pg = Private::start(|c| {
        c.setting("lc_messages = 'C.utf8'")
            .server_env("LANGUAGE", "de")
    })
    .await;
    let mut conn = pg.connect().await.unwrap();

    let data = StoreError::from(conn.batch_execute("SELECT 1 / 0").await.unwrap_err());
    conn.batch_execute("SET statement_timeout = 50")
        .await
        .unwrap();
    let timeout = StoreError::from(conn.batch_execute("SELECT pg_sleep(5)").await.unwrap_err());

    // Proves the server really speaks German, or the rest proves nothing.
    assert!(data.to_string().contains("Division durch Null"), "{data}");
    assert_eq!(data.class(), ErrorClass::Fatal(FatalKind::DataException));
    assert!(!timeout.to_string().contains("canceling"), "{timeout}");
    assert_eq!(
        timeout.class(),
        ErrorClass::Transient(TransientKind::Canceled),
        "{timeout}"
    );
}
