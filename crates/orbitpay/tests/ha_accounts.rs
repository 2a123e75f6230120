//! Accounts as data on a fixed number of connections: instances follow the `watched_accounts`
//! table at runtime, share its accounts fairly on one leadership connection each, and a killed
//! instance's accounts are taken by the survivor. In-process, with the ingestion replaced by a
//! probe that records who ingests what; and, with the real ingestion against the simulator,
//! payments racing an account's add and removal.

mod serve_support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orbitpay::config::{Config, Secret, StartCursor};
use orbitpay::leader::{APPLICATION_NAME, AccountIngest};
use orbitpay::serve::{self, ReadyInfo, ServeOptions, Wiring};
use orbitpay_core::{AccountId, Asset, Memo};
use orbitpay_horizon_sim::{HorizonSim, Op, SimConfig, Tx, derive_account, stroops};
use orbitpay_store::accounts::{self, AddedBy, NewAccount};
use orbitpay_testkit::TestDb;
use serve_support::{eventually, http, split_password};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

const POOL_SIZE: usize = 3;

/// The accounts being ingested in this process, across instances.
#[derive(Default)]
struct Probe {
    running: Mutex<Vec<AccountId>>,
}

impl Probe {
    fn running(&self) -> Vec<AccountId> {
        self.running.lock().unwrap().clone()
    }
}

struct ProbeIngest(Arc<Probe>);

#[async_trait::async_trait]
impl AccountIngest for ProbeIngest {
    async fn run(
        &self,
        account: AccountId,
        _start: StartCursor,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        self.0.running.lock().unwrap().push(account);
        shutdown.cancelled().await;
        let mut running = self.0.running.lock().unwrap();
        if let Some(i) = running.iter().position(|a| *a == account) {
            running.swap_remove(i);
        }
        Ok(())
    }
}

struct Instance {
    ready: ReadyInfo,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Instance {
    fn leading(&self) -> usize {
        self.ready.board.leading().0
    }
}

fn config(db: &TestDb, dir: &std::path::Path) -> Config {
    let (url, pw) = split_password(db.url());
    let mut c = Config::default();
    c.database.url = url;
    c.database.password = Secret::new(pw.unwrap_or_default());
    c.database.pool_size = POOL_SIZE;
    c.horizon.url = "http://127.0.0.1:9".into();
    c.accounts = Vec::new();
    c.admin.socket = dir.join("admin.sock");
    c.ingest.leader_retry = Duration::from_millis(200);
    // Per-account leadership is what this file proves (auto would follow the network).
    c.ingest.mode = orbitpay::config::IngestMode::PerAccount;
    c.ingest.shutdown_grace = Duration::from_secs(5);
    c
}

async fn start(db: &TestDb, probe: Arc<Probe>) -> Instance {
    let dir = tempfile::tempdir().unwrap();
    let c = config(db, dir.path());
    let wiring: serve::WiringFactory = Box::new(move |ctx| {
        let mut wiring = Wiring::production(ctx)?;
        wiring.ingest = Arc::new(ProbeIngest(probe));
        Ok(wiring)
    });
    run(c, Some(wiring), dir).await
}

/// An instance with the production ingestion, following the simulator at `horizon`.
async fn start_ingesting(db: &TestDb, horizon: &str) -> Instance {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(db, dir.path());
    c.horizon.url = horizon.to_owned();
    run(c, None, dir).await
}

async fn run(c: Config, wiring: Option<serve::WiringFactory>, dir: tempfile::TempDir) -> Instance {
    let (ready_tx, ready_rx) = oneshot::channel();
    let shutdown = CancellationToken::new();
    let options = ServeOptions {
        wiring,
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

fn account(i: u32) -> AccountId {
    let mut bytes = [7u8; 32];
    bytes[..4].copy_from_slice(&i.to_be_bytes());
    AccountId::from_bytes(bytes)
}

fn new_account(address: AccountId) -> NewAccount {
    NewAccount {
        address,
        label: String::new(),
        start_cursor: "1".into(),
        start_token: Some(1),
        added_by: AddedBy::Api,
    }
}

async fn watch(db: &TestDb, n: u32) -> Vec<AccountId> {
    let all: Vec<AccountId> = (0..n).map(account).collect();
    let rows: Vec<String> = all
        .iter()
        .map(|a| format!("('{a}', '1', 1, 'api')"))
        .collect();
    db.exec(&format!(
        "INSERT INTO watched_accounts (address, start_cursor, start_token, added_by) VALUES {}",
        rows.join(",")
    ))
    .await;
    all
}

/// Connections to the test's database, by `application_name` when given.
async fn connections(db: &TestDb, application_name: Option<&str>) -> i64 {
    let filter = application_name
        .map(|n| format!(" AND application_name = '{n}'"))
        .unwrap_or_default();
    // Less the one this count runs on.
    db.count(&format!(
        "SELECT count(*) - 1 FROM pg_stat_activity WHERE datname = current_database(){filter}"
    ))
    .await
        + i64::from(application_name.is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_split_a_thousand_accounts_and_the_survivor_takes_a_killed_ones() {
    let db = TestDb::new().await;
    let all = watch(&db, 1_000).await;
    let probe = Arc::new(Probe::default());

    let a = start(&db, probe.clone()).await;
    eventually(Duration::from_secs(30), "a to lead all 1000 alone", || {
        let n = a.leading();
        async move { n == 1_000 }
    })
    .await;
    let b = start(&db, probe.clone()).await;
    eventually(
        Duration::from_secs(30),
        "each instance to lead 40-60% of the accounts",
        || {
            let (na, nb) = (a.leading(), b.leading());
            async move { (400..=600).contains(&na) && (400..=600).contains(&nb) && na + nb == 1_000 }
        },
    )
    .await;
    // Each account is ingested once, and each instance uses one leadership connection.
    eventually(
        Duration::from_secs(5),
        "every led account to be ingested",
        || {
            let running = probe.running();
            async move { running.len() == 1_000 }
        },
    )
    .await;
    let running = probe.running();
    assert_eq!(running.iter().collect::<HashSet<_>>().len(), 1_000);
    assert_eq!(connections(&db, Some(APPLICATION_NAME)).await, 2);

    // a is killed: its tasks vanish without unlocking anything, its connections close.
    a.task.abort();
    let _ = a.task.await;
    eventually(Duration::from_secs(10), "b to lead every account", || {
        let n = b.leading();
        async move { n == 1_000 }
    })
    .await;
    let leading: HashSet<AccountId> = all
        .iter()
        .filter(|acc| b.ready.board.role(acc) == Some(orbitpay::status::Role::Leading))
        .copied()
        .collect();
    assert_eq!(leading.len(), 1_000);
    b.shutdown.cancel();
    b.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_leading_a_thousand_accounts_uses_at_most_the_pool_and_two_connections() {
    let db = TestDb::new().await;
    watch(&db, 1_000).await;
    let probe = Arc::new(Probe::default());
    let a = start(&db, probe.clone()).await;
    eventually(Duration::from_secs(30), "a to lead all 1000", || {
        let n = a.leading();
        async move { n == 1_000 }
    })
    .await;
    // Let the jobs, the refresher and the dispatcher take what they take.
    let mut most = 0;
    for _ in 0..20 {
        most = most.max(connections(&db, None).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        most <= (POOL_SIZE + 2) as i64,
        "{most} connections for pool_size {POOL_SIZE}"
    );
    assert_eq!(connections(&db, Some(APPLICATION_NAME)).await, 1);
    a.shutdown.cancel();
    a.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_added_or_removed_at_runtime_is_ingested_or_dropped_within_a_second() {
    let db = TestDb::new().await;
    let probe = Arc::new(Probe::default());
    let a = start(&db, probe.clone()).await;
    let b = start(&db, probe.clone()).await;
    let added = account(42);

    accounts::create(&mut db.conn().await, &new_account(added))
        .await
        .unwrap();
    let at = tokio::time::Instant::now();
    // NOTIFY wakes every instance at once; the 500 ms re-read is the fallback. The bound is
    // generous for a loaded machine, not the target.
    eventually(
        Duration::from_secs(3),
        "the added account to be ingested",
        || {
            let running = probe.running();
            async move { running == vec![added] }
        },
    )
    .await;
    eprintln!("added account ingested after {:?}", at.elapsed());
    // Both instances know it: one leads, the other stands by.
    eventually(Duration::from_secs(3), "one leader and one standby", || {
        let roles: Vec<_> = [&a, &b]
            .iter()
            .map(|i| i.ready.board.role(&added))
            .collect();
        async move {
            roles.contains(&Some(orbitpay::status::Role::Leading))
                && roles.contains(&Some(orbitpay::status::Role::Standby))
        }
    })
    .await;

    accounts::remove(&mut db.conn().await, &added, false)
        .await
        .unwrap();
    let at = tokio::time::Instant::now();
    eventually(
        Duration::from_secs(3),
        "the removed account to be dropped",
        || {
            let running = probe.running();
            let gone = a.ready.board.role(&added).is_none() && b.ready.board.role(&added).is_none();
            async move { running.is_empty() && gone }
        },
    )
    .await;
    eprintln!("removed account dropped after {:?}", at.elapsed());
    for i in [a, b] {
        i.shutdown.cancel();
        i.task.await.unwrap().unwrap();
    }
}

/// One shop on the simulator, its sessions seeded straight into the table (a session can exist
/// before its account is watched), paid by memo id.
struct Race {
    db: TestDb,
    sim: HorizonSim,
    shop: AccountId,
    payer: AccountId,
}

/// Stroops of every session and payment.
const AMOUNT: i64 = 10_000_000;

impl Race {
    async fn sessions(&self, references: std::ops::RangeInclusive<u64>) {
        self.db
            .exec(&format!(
                "INSERT INTO sessions (account, reference, asset, amount, expires_at)
                 SELECT '{}', g::numeric, 'native', {AMOUNT}, now() + interval '7 days'
                 FROM generate_series({}, {}) g",
                self.shop,
                references.start(),
                references.end()
            ))
            .await;
    }

    /// Pays `reference` in a ledger of its own; the operation's id.
    fn pay(&self, reference: u64) -> i64 {
        let tx = Tx::new(self.payer)
            .memo(Memo::Id(reference))
            .op(Op::payment(
                self.payer,
                self.shop,
                Asset::Native,
                stroops(AMOUNT),
            ));
        self.sim.close_ledger(vec![tx]).txs[0].op_ids[0]
    }

    async fn status(&self, reference: u64) -> (String, i64) {
        use diesel_async::RunQueryDsl;
        diesel::sql_query(format!(
            "SELECT status::text AS status, amount_received FROM sessions
             WHERE account = '{}' AND reference = {reference}",
            self.shop
        ))
        .get_result::<SessionRow>(&mut self.db.conn().await)
        .await
        .map(|r| (r.status, r.amount_received))
        .unwrap()
    }

    /// How often the operation was credited, and recorded as unmatched.
    async fn recorded(&self, op: i64) -> (i64, i64) {
        (
            self.db
                .count(&format!(
                    "SELECT count(*) FROM payment_operations WHERE op_id = {op}"
                ))
                .await,
            self.db
                .count(&format!(
                    "SELECT count(*) FROM unmatched_payments WHERE op_id = {op}"
                ))
                .await,
        )
    }
}

#[derive(diesel::QueryableByName)]
struct SessionRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Int8)]
    amount_received: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_racing_an_add_or_a_removal_are_credited_once_or_not_at_all_never_before_the_add()
{
    let sim = HorizonSim::new(SimConfig::default());
    let (shop, payer) = (derive_account(24, 0), derive_account(24, 1));
    sim.register_account(shop);
    sim.register_account(payer);
    let horizon = sim.serve("127.0.0.1:0").await.unwrap();
    let race = Race {
        db: TestDb::new().await,
        sim,
        shop,
        payer,
    };
    let a = start_ingesting(&race.db, horizon.base_url()).await;
    let socket = a.ready.admin_socket.clone();
    let add = format!(r#"{{"address":"{shop}","start_cursor":"now"}}"#);
    let remove = format!("/v1/accounts/{shop}?expire_open=true");
    let mut racing_removal = Vec::new();

    for round in 0..4u64 {
        // Four sessions a round: paid before the add, after it, racing the removal, after it.
        let (before, after_add, racing, after_removal) =
            (round * 4 + 1, round * 4 + 2, round * 4 + 3, round * 4 + 4);
        race.sessions(before..=after_removal).await;

        // Just before the add: its ledger closes before the add's "now".
        let op_before = race.pay(before);
        let (status, body) = http(&socket, "POST", "/v1/accounts", Some(&add)).await;
        assert_eq!(status, 201, "{body}");
        // Just after: the account's ingestion has not started yet.
        let op_after_add = race.pay(after_add);
        eventually(
            Duration::from_secs(10),
            "the payment after the add to be credited",
            || async { race.status(after_add).await.0 == "paid" },
        )
        .await;
        assert_eq!(race.recorded(op_after_add).await, (1, 0));
        assert_eq!(race.status(after_add).await, ("paid".into(), AMOUNT));

        // Racing the removal: the DELETE and the ledger at once. A claim in flight makes the
        // removal wait (409) until it settles.
        let (_, op_racing) = tokio::join!(
            async {
                loop {
                    let (status, body) = http(&socket, "DELETE", &remove, None).await;
                    if status == 200 {
                        break;
                    }
                    assert_eq!(status, 409, "{body}");
                    assert!(body.contains("ACCOUNT_HAS_OPEN_SESSIONS"), "{body}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            async { race.pay(racing) }
        );
        // Just after the removal.
        let op_after_removal = race.pay(after_removal);
        eventually(
            Duration::from_secs(5),
            "the removed account to leave the board",
            || {
                let gone = a.ready.board.role(&shop).is_none();
                async move { gone }
            },
        )
        .await;
        // Once it is off the board nothing of it is read: an unknown reference paid now is not
        // even recorded.
        let op_unwatched = race.pay(1_000_000 + round);
        tokio::time::sleep(Duration::from_millis(700)).await;

        assert_eq!(
            race.recorded(op_before).await,
            (0, 0),
            "round {round}: the payment before the add was read"
        );
        assert_eq!(race.status(before).await, ("expired".into(), 0));
        assert_eq!(race.recorded(op_after_add).await, (1, 0));
        assert_eq!(race.recorded(op_unwatched).await, (0, 0));
        let (credited, unmatched) = race.recorded(op_after_removal).await;
        assert_eq!(credited, 0, "round {round}: credited after the removal");
        assert!(unmatched <= 1);
        assert_eq!(race.status(after_removal).await, ("expired".into(), 0));
        // Racing: credited once (and paid), or not at all (expired, maybe recorded late).
        let (credited, unmatched) = race.recorded(op_racing).await;
        let state = race.status(racing).await;
        match credited {
            1 => assert_eq!((unmatched, state.clone()), (0, ("paid".into(), AMOUNT))),
            0 => assert_eq!(
                (unmatched <= 1, state.clone()),
                (true, ("expired".into(), 0))
            ),
            n => panic!("round {round}: the racing payment was credited {n} times"),
        }
        racing_removal.push(state.0);
    }
    eprintln!("the payment racing each removal left its session: {racing_removal:?}");
    let paid_sum = race
        .db
        .count(&format!(
            "SELECT coalesce(sum(amount_received), 0)::int8 FROM sessions WHERE account = '{shop}'"
        ))
        .await;
    let credited_sum = race
        .db
        .count("SELECT coalesce(sum(amount), 0)::int8 FROM payment_operations")
        .await;
    assert_eq!(paid_sum, credited_sum, "sessions and credits disagree");
    a.shutdown.cancel();
    a.task.await.unwrap().unwrap();
    horizon.shutdown().await;
}
