//! The harness gives isolated, migrated databases and cleans up after itself,
//! whatever the runtime flavour and however many tests run at once.

use std::process::Command;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use orbitpay_testkit::{ServerKind, TestDb, server};

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

async fn database_exists(name: &str) -> bool {
    let mut admin = AsyncPgConnection::establish(&server().await.unwrap().admin_url)
        .await
        .unwrap();
    diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<Text, _>(name)
        .get_result::<Exists>(&mut admin)
        .await
        .unwrap()
        .exists
}

async fn session_count(db: &TestDb) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = db.conn().await;
    diesel::sql_query("SELECT count(*) AS n FROM sessions")
        .get_result::<Count>(&mut conn)
        .await
        .unwrap()
        .n
}

#[tokio::test]
async fn concurrent_databases_are_isolated_and_migrated() {
    let (a, b) = tokio::join!(TestDb::new(), TestDb::new());
    assert_ne!(a.name(), b.name());

    a.conn()
        .await
        .batch_execute(
            "INSERT INTO sessions (account, reference, asset, amount, expires_at) VALUES \
             ('GAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 1, 'native', 1, now())",
        )
        .await
        .unwrap();

    assert_eq!(session_count(&a).await, 1);
    assert_eq!(session_count(&b).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_databases_at_once() {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        set.spawn(TestDb::new());
    }
    let dbs = set.join_all().await;
    for db in &dbs {
        assert_eq!(session_count(db).await, 0);
    }
}

#[tokio::test]
async fn dropping_removes_the_database_even_with_open_connections() {
    let db = TestDb::new().await;
    let name = db.name().to_owned();
    let pool = db.pool();
    let _held = pool.get().await.unwrap();
    assert!(database_exists(&name).await);

    drop(db);

    assert!(!database_exists(&name).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_on_a_multi_thread_runtime() {
    let db = TestDb::new().await;
    let name = db.name().to_owned();
    assert_eq!(session_count(&db).await, 0);
    drop(db);
    assert!(!database_exists(&name).await);
}

#[tokio::test]
async fn an_empty_database_has_no_schema() {
    let db = TestDb::empty().await;
    let mut conn = db.conn().await;
    let err = conn
        .batch_execute("SELECT 1 FROM sessions")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

/// Runs this test binary again, as a separate process, with `env`, running
/// only `throwaway_child`: the server choice is made once per process.
fn run_child(env: &[(&str, &str)]) {
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new(exe);
    command
        .args(["--exact", "throwaway_child", "--ignored", "--nocapture"])
        .env("ORBITPAY_TESTKIT_CHILD", "1")
        .env_remove("ORBITPAY_TEST_PG")
        .env_remove("DATABASE_URL");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "child failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "child did not run: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn falls_back_to_a_throwaway_cluster_when_no_server_answers() {
    // Nothing listens on port 1.
    run_child(&[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/postgres")]);
    // Forced, and the cluster is found already running.
    run_child(&[("ORBITPAY_TEST_PG", "throwaway")]);
}

#[tokio::test]
#[ignore = "run by falls_back_to_a_throwaway_cluster_when_no_server_answers"]
async fn throwaway_child() {
    if std::env::var_os("ORBITPAY_TESTKIT_CHILD").is_none() {
        return;
    }
    let server = server().await.unwrap();
    assert_eq!(server.kind, ServerKind::Throwaway);
    assert!(server.admin_url.contains("host=/"), "{}", server.admin_url);

    let db = TestDb::new().await;
    assert_eq!(session_count(&db).await, 0);
    let name = db.name().to_owned();
    drop(db);
    assert!(!database_exists(&name).await);
}
