//! Two `orbitpay serve` processes on one database, the leader killed with SIGKILL: the other
//! takes the account over from the stored cursor, and every payment is credited exactly once
//! (nothing lost, nothing doubled). Real binaries, real ingestion, the Horizon simulator.

mod serve_support;

use std::process::Child;
use std::time::{Duration, Instant};

use orbitpay::config::now_token;
use orbitpay_core::{AccountId, Asset};
use orbitpay_horizon_sim::{HorizonSim, Op, ServerHandle, Tx, derive_account, stroops};
use orbitpay_testkit::TestDb;
use serve_support::*;

struct Daemon {
    child: Child,
    files: DaemonFiles,
}

impl Daemon {
    fn socket(&self) -> std::path::PathBuf {
        self.files.path("admin.sock")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(db: &TestDb, horizon: &str, account: &str, start_cursor: i64) -> Daemon {
    let files = DaemonFiles::new();
    let (_, pw) = split_password(db.url());
    let config = files.write_config(
        db.url(),
        &pw.unwrap_or_default(),
        horizon,
        &[],
        &format!(
            "[[accounts]]\naddress = \"{account}\"\nstart_cursor = \"{start_cursor}\"\n\n\
             [log]\nformat = \"json\"\nlevel = \"info\"\n"
        ),
    );
    // `accounts = []` from write_config plus [[accounts]] would clash: drop the empty list.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("accounts = []\n", "");
    std::fs::write(&config, text).unwrap();
    let mut notify = NotifySocket::bind(files.path("notify.sock"));
    let child = orbitpay_command(&["serve", "--config", config.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &notify.path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        notify
            .wait_for(Duration::from_secs(60), |l| l == "READY=1")
            .is_some(),
        "daemon not ready"
    );
    Daemon { child, files }
}

async fn leads(d: &Daemon) -> bool {
    let status = get_json(&d.socket(), "/v1/status").await;
    status["accounts"]["leading"] == 1
}

/// One shop and its payer on the simulator, and a fresh database.
struct Shop {
    db: TestDb,
    sim: HorizonSim,
    horizon: ServerHandle,
    shop: AccountId,
    payer: AccountId,
}

impl Shop {
    async fn new(seed: u64) -> Shop {
        let sim = HorizonSim::with_seed(seed);
        let (shop, payer) = (derive_account(seed, 0), derive_account(seed, 1));
        sim.register_account(shop);
        let horizon = sim.serve("127.0.0.1:0").await.unwrap();
        Shop {
            db: TestDb::new().await,
            sim,
            horizon,
            shop,
            payer,
        }
    }
}

/// Operations credited, in the database.
async fn credited_operations(db: &TestDb) -> i64 {
    use diesel::sql_types::BigInt;
    use diesel_async::RunQueryDsl as _;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = db.conn().await;
    let ops: N = diesel::sql_query("SELECT count(*) AS n FROM payment_operations")
        .get_result(&mut conn)
        .await
        .unwrap();
    ops.n
}

/// The two instances once exactly one of them leads: (leader, standby).
async fn one_leader(first: Daemon, second: Daemon) -> (Daemon, Daemon) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match (leads(&first).await, leads(&second).await) {
            (true, false) => return (first, second),
            (false, true) => return (second, first),
            _ => {
                assert!(Instant::now() < deadline, "no single leader");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Closes a ledger with one payment of `amount` stroops under memo id `memo`.
fn pay_memo(sim: &HorizonSim, payer: AccountId, shop: AccountId, memo: u64, amount: i64) {
    sim.close_ledger(vec![Tx::new(payer).memo_id(memo).op(Op::payment(
        payer,
        shop,
        Asset::Native,
        stroops(amount),
    ))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_a_killed_leader_and_nothing_is_lost_or_doubled() {
    let Shop {
        db,
        sim,
        horizon,
        shop,
        payer,
    } = Shop::new(21).await;
    let start_at = now_token(sim.latest_ledger());

    let first = start(&db, horizon.base_url(), &shop.to_string(), start_at);
    let second = start(&db, horizon.base_url(), &shop.to_string(), start_at);
    let (mut leader, standby) = one_leader(first, second).await;

    let pay = |memo: u64, amount: i64| pay_memo(&sim, payer, shop, memo, amount);

    // Both instances serve the admin API.
    let one = create_session(&leader.socket(), "5").await;
    let two = create_session(&standby.socket(), "7").await;
    let one_id = one["id"].as_str().unwrap().to_owned();
    let two_id = two["id"].as_str().unwrap().to_owned();
    pay(memo_id(&one), 50_000_000);
    wait_paid(&standby.socket(), &one_id, Duration::from_secs(20)).await;

    // The leader dies hard, maybe in the middle of handling these; payments keep arriving.
    let three = create_session(&standby.socket(), "3").await;
    let three_id = three["id"].as_str().unwrap().to_owned();
    pay(memo_id(&three), 10_000_000);
    pay(memo_id(&three), 20_000_000);
    leader.child.kill().unwrap();
    leader.child.wait().unwrap();
    pay(memo_id(&two), 30_000_000);
    pay(memo_id(&one), 50_000_000); // a duplicate: recorded, not credited
    pay(memo_id(&two), 40_000_000);

    let took_over = Instant::now();
    let two_now = wait_paid(&standby.socket(), &two_id, Duration::from_secs(30)).await;
    assert!(took_over.elapsed() < Duration::from_secs(25));
    assert!(leads(&standby).await);
    assert_eq!(two_now["amount_received"], "7.0000000");
    let three_now = wait_paid(&standby.socket(), &three_id, Duration::from_secs(10)).await;
    assert_eq!(three_now["amount_received"], "3.0000000");
    let one_now = get_json(&standby.socket(), &format!("/v1/sessions/{one_id}")).await;
    assert_eq!(one_now["amount_received"], "5.0000000");

    // Exactly once, in the database: 5 credited operations, 1 unmatched (already_paid).
    let deadline = Instant::now() + Duration::from_secs(10);
    let unmatched = loop {
        let page = get_json(&standby.socket(), "/v1/payments/unmatched").await;
        let rows = page["data"].as_array().cloned().unwrap_or_default();
        if !rows.is_empty() || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(unmatched.len(), 1, "{unmatched:?}");
    assert_eq!(unmatched[0]["reason"], "already_paid");
    assert_eq!(credited_operations(&db).await, 5);

    // The survivor stops cleanly.
    let mut standby = standby;
    signal(&standby.child, "TERM");
    let status = wait_exit(&mut standby.child, Duration::from_secs(15)).unwrap();
    assert!(status.success());
    horizon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_leader_loses_the_lead_and_stands_down_when_it_wakes() {
    let Shop {
        db,
        sim,
        horizon,
        shop,
        payer,
    } = Shop::new(22).await;
    let start_at = now_token(sim.latest_ledger());
    let first = start(&db, horizon.base_url(), &shop.to_string(), start_at);
    let second = start(&db, horizon.base_url(), &shop.to_string(), start_at);
    let (frozen, standby) = one_leader(first, second).await;
    let pay = |memo: u64, amount: i64| pay_memo(&sim, payer, shop, memo, amount);
    let session = create_session(&standby.socket(), "4").await;
    let id = session["id"].as_str().unwrap().to_owned();

    // SIGSTOP: the leader's lock connection goes silent; PostgreSQL ends it after
    // 4 × leader_retry (800 ms here) and the standby takes the account.
    signal(&frozen.child, "STOP");
    let froze = Instant::now();
    pay(memo_id(&session), 10_000_000);
    pay(memo_id(&session), 30_000_000);
    let paid = wait_paid(&standby.socket(), &id, Duration::from_secs(15)).await;
    assert!(
        froze.elapsed() < Duration::from_secs(10),
        "took over after {:?}",
        froze.elapsed()
    );
    assert!(leads(&standby).await);
    assert_eq!(paid["amount_received"], "4.0000000");

    // SIGCONT: the old leader finds its lock connection gone and stands down.
    signal(&frozen.child, "CONT");
    let deadline = Instant::now() + Duration::from_secs(10);
    while leads(&frozen).await {
        assert!(Instant::now() < deadline, "the woken leader still leads");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(leads(&standby).await, "the new leader keeps the account");
    pay(memo_id(&session), 10_000_000); // late: recorded, not credited
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = get_json(&standby.socket(), "/v1/payments/unmatched").await;
        if page["data"].as_array().is_some_and(|r| r.len() == 1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the late payment is not recorded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        credited_operations(&db).await,
        2,
        "each credit exactly once"
    );
    horizon.shutdown().await;
}
