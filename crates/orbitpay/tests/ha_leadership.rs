//! Several instances on one database: one leads each account (advisory lock on a dedicated
//! connection); when the leader's lock connection dies or the leader stops, another takes the
//! account within seconds. In-process, with the ingestion replaced by a probe that counts who is
//! ingesting at any moment.

mod serve_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel::sql_types::{BigInt, Integer};
use orbitpay::config::{Config, Secret, StartCursor, WatchedAccount};
use orbitpay::leader::{AccountIngest, lock_key};
use orbitpay::serve::{self, ReadyInfo, ServeOptions, Wiring};
use orbitpay::status::Role;
use orbitpay_core::AccountId;
use orbitpay_testkit::TestDb;
use serve_support::{eventually, split_password};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

const ACCOUNT: &str = "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7";

#[derive(Default)]
struct Probe {
    running: AtomicUsize,
    max_running: AtomicUsize,
    starts: AtomicUsize,
}

struct ProbeIngest(Arc<Probe>);

#[async_trait::async_trait]
impl AccountIngest for ProbeIngest {
    async fn run(
        &self,
        _account: AccountId,
        _start: StartCursor,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        self.0.starts.fetch_add(1, Ordering::SeqCst);
        let now = self.0.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.max_running.fetch_max(now, Ordering::SeqCst);
        shutdown.cancelled().await;
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

struct Instance {
    ready: ReadyInfo,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

/// An instance watching ACCOUNT; Horizon is unreachable on purpose (ingestion is a probe).
fn config(db: &TestDb, dir: &std::path::Path) -> Config {
    let (url, pw) = split_password(db.url());
    let mut c = Config::default();
    c.database.url = url;
    c.database.password = Secret::new(pw.unwrap_or_default());
    c.database.pool_size = 3;
    c.horizon.url = "http://127.0.0.1:9".into();
    c.accounts = vec![WatchedAccount::new(ACCOUNT)];
    c.admin.socket = dir.join("admin.sock");
    c.ingest.leader_retry = Duration::from_millis(200);
    c
}

async fn start(db: &TestDb, probe: Arc<Probe>) -> Instance {
    start_with(db, Arc::new(ProbeIngest(probe))).await
}

async fn start_with(db: &TestDb, ingest: Arc<dyn AccountIngest>) -> Instance {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(db, dir.path());
    c.ingest.shutdown_grace = Duration::from_secs(5);
    c.ingest.halted_release_after = Duration::from_millis(500);
    let (ready_tx, ready_rx) = oneshot::channel();
    let shutdown = CancellationToken::new();
    let options = ServeOptions {
        wiring: Some(Box::new(move |ctx| {
            let mut wiring = Wiring::production(ctx)?;
            wiring.ingest = ingest;
            Ok(wiring)
        })),
        on_ready: Some(ready_tx),
        ..ServeOptions::embedded(shutdown.clone())
    };
    let task = tokio::spawn(serve::run(c, options));
    let ready = tokio::time::timeout(Duration::from_secs(30), ready_rx)
        .await
        .expect("ready in time")
        .expect("ready");
    Instance {
        ready,
        shutdown,
        task,
        _dir: dir,
    }
}

fn account() -> AccountId {
    ACCOUNT.parse().unwrap()
}

fn role(i: &Instance) -> Option<Role> {
    i.ready.board.role(&account())
}

async fn wait_role(i: &Instance, want: Role, within: Duration, what: &str) {
    eventually(within, what, || {
        let r = role(i);
        let want = want.clone();
        async move { r == Some(want) }
    })
    .await;
}

/// The backend pid holding the account's advisory lock.
async fn lock_holder(db: &TestDb) -> Option<i32> {
    use diesel_async::RunQueryDsl as _;
    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = Integer)]
        pid: i32,
    }
    let mut conn = db.conn().await;
    let key = lock_key(&account());
    diesel::sql_query(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND classid::bigint = (($1 >> 32) & 4294967295) AND objid::bigint = ($1 & 4294967295)",
    )
    .bind::<BigInt, _>(key)
    .get_result::<Pid>(&mut conn)
    .await
    .ok()
    .map(|p| p.pid)
}

async fn terminate(db: &TestDb, pid: i32) {
    use diesel_async::RunQueryDsl as _;
    let mut conn = db.conn().await;
    diesel::sql_query("SELECT pg_terminate_backend($1)")
        .bind::<Integer, _>(pid)
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_per_account_and_takeover_on_lost_connection_and_stop() {
    let db = TestDb::new().await;
    let probe = Arc::new(Probe::default());

    let a = start(&db, probe.clone()).await;
    wait_role(&a, Role::Leading, Duration::from_secs(10), "a to lead").await;
    let b = start(&db, probe.clone()).await;
    // b stays on standby while a holds the lock.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(role(&b), Some(Role::Standby));
    assert_eq!(probe.running.load(Ordering::SeqCst), 1);

    // a's lock connection dies (a network drop, a DBA's pg_terminate_backend): a notices on its
    // next ping and stops ingesting; b takes over within a few leader_retry periods.
    let holder = lock_holder(&db).await.expect("someone holds the lock");
    terminate(&db, holder).await;
    wait_role(&b, Role::Leading, Duration::from_secs(5), "b to take over").await;
    // b may win the lock a moment before a's next ping tells it the lock is gone: for that
    // moment both ingest, which is safe (correctness rests on row locks and constraints).
    wait_role(&a, Role::Standby, Duration::from_secs(2), "a to stand down").await;
    assert_eq!(probe.running.load(Ordering::SeqCst), 1);
    assert_ne!(lock_holder(&db).await, Some(holder));

    // b stops cleanly (its lock is released explicitly): a takes the account back.
    b.shutdown.cancel();
    b.task.await.unwrap().unwrap();
    wait_role(&a, Role::Leading, Duration::from_secs(5), "a to lead again").await;

    // Three leadership terms; at most the brief overlap above.
    assert!(probe.max_running.load(Ordering::SeqCst) <= 2);
    assert_eq!(probe.starts.load(Ordering::SeqCst), 3);
    a.shutdown.cancel();
    a.task.await.unwrap().unwrap();
    assert_eq!(probe.running.load(Ordering::SeqCst), 0);
    assert!(lock_holder(&db).await.is_none());
}

/// How [`Faulty`] misbehaves.
#[derive(Clone, Copy)]
enum Fault {
    /// Returns an error: the leader releases the lead and retries after a backoff.
    Fail,
    /// Returns at once, as the matcher does on a record it cannot settle: the account halts.
    Halt,
}

/// Misbehaves on its first `times` runs (each counted in `probe.starts`), then ingests normally.
struct Faulty {
    probe: Arc<Probe>,
    fault: Fault,
    times: usize,
    runs: AtomicUsize,
}

impl Faulty {
    fn new(probe: Arc<Probe>, fault: Fault, times: usize) -> Arc<Faulty> {
        Arc::new(Faulty {
            probe,
            fault,
            times,
            runs: AtomicUsize::new(0),
        })
    }
}

#[async_trait::async_trait]
impl AccountIngest for Faulty {
    async fn run(
        &self,
        account: AccountId,
        start: StartCursor,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        if self.runs.fetch_add(1, Ordering::SeqCst) < self.times {
            self.probe.starts.fetch_add(1, Ordering::SeqCst);
            return match self.fault {
                Fault::Fail => Err(anyhow::anyhow!("injected failure")),
                Fault::Halt => Ok(()),
            };
        }
        ProbeIngest(self.probe.clone())
            .run(account, start, shutdown)
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_ingestion_releases_the_lead_and_is_retried() {
    let db = TestDb::new().await;
    let probe = Arc::new(Probe::default());
    let a = start_with(&db, Faulty::new(probe.clone(), Fault::Fail, 1)).await;
    eventually(Duration::from_secs(10), "the retry to ingest", || {
        let running = probe.running.load(Ordering::SeqCst);
        async move { running == 1 }
    })
    .await;
    assert_eq!(probe.starts.load(Ordering::SeqCst), 2);
    a.shutdown.cancel();
    a.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halted_leader_gives_up_the_lead_and_a_standby_takes_the_account() {
    let db = TestDb::new().await;
    let halted = Arc::new(Probe::default());
    let a = start_with(&db, Faulty::new(halted.clone(), Fault::Halt, usize::MAX)).await;
    eventually(Duration::from_secs(10), "a to halt", || {
        let r = role(&a);
        async move { matches!(r, Some(Role::Halted { .. })) }
    })
    .await;
    let probe = Arc::new(Probe::default());
    let b = start(&db, probe.clone()).await;
    // halted_release_after is 500 ms: b leads within a few retry periods of it.
    wait_role(&b, Role::Leading, Duration::from_secs(5), "b to take over").await;
    assert_eq!(probe.running.load(Ordering::SeqCst), 1);
    b.shutdown.cancel();
    b.task.await.unwrap().unwrap();
    a.shutdown.cancel();
    a.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halted_leader_alone_retakes_the_lead_and_retries() {
    let db = TestDb::new().await;
    let probe = Arc::new(Probe::default());
    let a = start_with(&db, Faulty::new(probe.clone(), Fault::Halt, 1)).await;
    eventually(Duration::from_secs(10), "the retry after the halt", || {
        let running = probe.running.load(Ordering::SeqCst);
        async move { running == 1 }
    })
    .await;
    assert_eq!(role(&a), Some(Role::Leading));
    a.shutdown.cancel();
    a.task.await.unwrap().unwrap();
}
