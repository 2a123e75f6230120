//! The named crash points, in the real `orbitpay` binary (built with `failpoints` for these
//! tests): `FAILPOINTS=<point>=return` kills the daemon by SIGABRT exactly there, and a
//! restart without it finishes what the crash cut short, once.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use diesel_async::SimpleAsyncConnection as _;
use orbitpay_cli::Client;
use orbitpay_core::{Asset, MuxedAccount, Reference, TxHash, toid};
use orbitpay_horizon_sim::{HorizonSim, Op, ServerHandle, Tx, derive_account, units};
use orbitpay_store::models::NewSession;
use orbitpay_testkit::TestDb;
use orbitpay_testkit::daemon::{Daemon, aborted};
use orbitpay_testkit::receiver::{self, Receiver};
use serde_json::{Value, json};

/// A fixed Standard Webhooks secret (24 bytes): the test must not depend on randomness.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Harness {
    db: TestDb,
    sim: HorizonSim,
    horizon: ServerHandle,
    shop: orbitpay_core::AccountId,
    payer: orbitpay_core::AccountId,
    dir: tempfile::TempDir,
}

impl Harness {
    async fn new(seed: u64) -> Harness {
        let db = TestDb::new().await;
        let sim = HorizonSim::with_seed(seed);
        let (shop, payer) = (derive_account(seed, 0), derive_account(seed, 1));
        sim.register_account(shop);
        sim.register_account(payer);
        let horizon = sim.serve("127.0.0.1:0").await.unwrap();
        Harness {
            db,
            sim,
            horizon,
            shop,
            payer,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("admin.sock")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("orbitpay.log")
    }

    /// Writes the config (starting the stream at the ledger now closed) plus `extra` sections.
    fn config(&self, extra: &str) -> PathBuf {
        let path = self.dir.path().join("orbitpay.toml");
        std::fs::write(
            &path,
            format!(
                "[[accounts]]\naddress = \"{shop}\"\nstart_cursor = \"{cursor}\"\n\n\
                 [database]\nurl = \"{db}\"\npool_size = 4\n\n\
                 [horizon]\nurl = \"{horizon}\"\n\n\
                 [admin]\nsocket = \"{socket}\"\nconfirm_wait = \"2s\"\n\n\
                 [ingest]\nleader_retry = \"200ms\"\nshutdown_grace = \"2s\"\n\n\
                 [log]\nformat = \"json\"\nlevel = \"info\"\n\n{extra}",
                shop = self.shop,
                cursor = orbitpay::config::now_token(self.sim.latest_ledger()),
                db = self.db.url(),
                horizon = self.horizon.base_url(),
                socket = self.socket().display(),
            ),
        )
        .unwrap();
        path
    }

    /// Starts the daemon (with `FAILPOINTS` when given) and waits until it is ready.
    async fn start(&self, config: &std::path::Path, failpoints: Option<&str>) -> (Daemon, Client) {
        let _ = std::fs::remove_file(self.socket());
        let env: Vec<(&str, &str)> = failpoints.map(|f| ("FAILPOINTS", f)).into_iter().collect();
        let mut daemon = Daemon::spawn(config, &self.log(), &env);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(client) = Client::new(self.socket())
                && let Ok(r) = client.get("/readyz").await
                && r.status == 200
            {
                return (daemon, client);
            }
            assert!(daemon.exited().is_none(), "died at start:\n{}", self.logs());
            assert!(Instant::now() < deadline, "not ready:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the daemon to die at its crash point: by SIGABRT, not an exit.
    async fn died_at_crash_point(&self, daemon: &mut Daemon) {
        let status = daemon.wait_exit(Duration::from_secs(60)).await;
        let status = status.unwrap_or_else(|| panic!("still running:\n{}", self.logs()));
        assert!(
            aborted(status),
            "died by {status:?}, not SIGABRT:\n{}",
            self.logs()
        );
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    async fn create_session(&self, client: &Client, key: &str) -> (String, u64) {
        let r = client
            .post_json(
                "/v1/sessions",
                &[("Idempotency-Key", key)],
                &json!({ "amount": "5", "asset": "native" }),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let created: Value = r.json().unwrap();
        let reference = created["reference"].as_str().unwrap().parse().unwrap();
        (created["id"].as_str().unwrap().to_owned(), reference)
    }

    /// Closes a ledger paying 5 XLM to the session `reference`; returns its hash and op id.
    fn pay(&self, reference: u64) -> (String, i64) {
        let closed = self
            .sim
            .close_ledger(vec![Tx::new(self.payer).op(Op::payment(
                self.payer,
                MuxedAccount::new(self.shop, reference),
                Asset::Native,
                units(5),
            ))]);
        (closed.txs[0].hash.clone(), closed.txs[0].op_ids[0])
    }

    async fn status(&self, id: &str) -> String {
        let mut conn = self.db.conn().await;
        let row = diesel::sql_query(format!(
            "SELECT status::text AS s FROM sessions WHERE id = '{id}'"
        ));
        let rows: Vec<StatusRow> = diesel_async::RunQueryDsl::load(row, &mut conn)
            .await
            .unwrap();
        rows.into_iter().next().unwrap().s
    }

    async fn payments(&self, id: &str) -> i64 {
        self.db
            .count(&format!(
                "SELECT count(*) FROM payment_operations o JOIN payments p ON p.id = o.payment_id \
                 WHERE p.session_id = '{id}'"
            ))
            .await
    }

    /// Waits for the session to be paid by exactly one operation.
    async fn paid_once(&self, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.status(id).await != "paid" {
            assert!(Instant::now() < deadline, "not paid:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(self.payments(id).await, 1, "credited once");
    }
}

#[derive(diesel::QueryableByName)]
struct StatusRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    s: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_claim_commits_leaves_a_claim_the_restart_settles() {
    let h = Harness::new(31).await;
    let config = h.config("");
    let (mut first, client) = h.start(&config, Some("claim-committed=return")).await;
    let (id, reference) = h.create_session(&client, "crash-claim").await;
    assert!(first.exited().is_none(), "no claim yet, no crash");

    h.pay(reference);
    h.died_at_crash_point(&mut first).await;
    assert_eq!(h.status(&id).await, "processing", "the claim committed");
    assert_eq!(h.payments(&id).await, 0, "the settle never began");

    let (_second, _) = h.start(&config, None).await;
    h.paid_once(&id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_reported_tx_settles_loses_only_the_response() {
    let h = Harness::new(32).await;
    let config = h.config("");
    let (mut first, client) = h
        .start(&config, Some("settle-before-response=return"))
        .await;
    let (id, reference) = h.create_session(&client, "crash-report").await;
    // Only the report can settle it: the stream never carries the payment.
    h.sim
        .skip_in_streams(toid::encode(h.sim.latest_ledger() + 1, 1, 1));
    let (hash, _) = h.pay(reference);
    assert!(first.exited().is_none());

    let cut = client
        .post_json(
            &format!("/v1/sessions/{id}/payments"),
            &[("Idempotency-Key", "report-1")],
            &json!({ "tx_hash": hash }),
        )
        .await;
    assert!(
        cut.is_err(),
        "the connection drops unanswered: {:?}",
        cut.map(|r| r.status)
    );
    h.died_at_crash_point(&mut first).await;
    assert_eq!(h.status(&id).await, "paid", "settlement committed");

    let (_second, client) = h.start(&config, None).await;
    let r = client
        .post_json(
            &format!("/v1/sessions/{id}/payments"),
            &[("Idempotency-Key", "report-2")],
            &json!({ "tx_hash": hash }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let body: Value = r.json().unwrap();
    assert_eq!(body["outcome"], "settled", "{body}");
    assert_eq!(body["amount_received"], "5.0000000", "{body}");
    h.paid_once(&id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_webhook_is_answered_sends_it_again_with_the_same_id() {
    let h = Harness::new(33).await;
    let receiver = Receiver::start(receiver::ok).await;
    let secret = h.dir.path().join("webhook-secret");
    std::fs::write(&secret, SECRET).unwrap();
    // A short request timeout keeps the dead dispatcher's lease short (timeout + 30 s).
    let config = h.config(&format!(
        "[webhooks]\nurl = \"{}\"\nsecret_file = \"{}\"\nallow_private = true\n\
         timeout = \"1s\"\npoll_interval = \"200ms\"\n",
        receiver.url,
        secret.display()
    ));
    let (mut first, client) = h.start(&config, Some("webhook-sent=return")).await;
    let (id, _) = h.create_session(&client, "crash-webhook").await;
    h.died_at_crash_point(&mut first).await;
    let sent = receiver.received();
    assert_eq!(sent.len(), 1, "one POST, answered 200, then the crash");
    let first_id = sent[0].id();
    assert_eq!(sent[0].verify(SECRET).unwrap()["type"], "session.created");
    assert_eq!(
        h.db.count("SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered'")
            .await,
        0,
        "not recorded as delivered"
    );

    let (_second, _) = h.start(&config, None).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while h
        .db
        .count("SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered'")
        .await
        < 1
    {
        assert!(Instant::now() < deadline, "not delivered:\n{}", h.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let again = receiver.received();
    assert_eq!(again.len(), 2, "sent once more after the restart");
    assert_eq!(again[1].id(), first_id, "with the same webhook-id");
    assert!(
        again[1].json().to_string().contains(&id),
        "the session's event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_the_middle_of_recovery_is_finished_by_the_next_run() {
    let h = Harness::new(34).await;
    // Two claims left by a dead process, six minutes old, for payments the stream has passed.
    let mut ids = Vec::new();
    for reference in [1, 2] {
        let mut conn = h.db.conn().await;
        let session = orbitpay_store::sessions::insert_with_reference(
            &mut conn,
            &NewSession {
                account: h.shop,
                asset: Asset::Native,
                amount: units(5),
                expires_at: chrono::Utc::now() + chrono::Duration::minutes(15),
                metadata: json!({}),
                order_id: None,
                webhook_url: None,
            },
            Reference(reference),
        )
        .await
        .unwrap();
        let (hash, _) = h.pay(reference);
        let hash = TxHash::from_str(&hash).unwrap();
        orbitpay_store::settlement::claim_reported(&mut conn, session.id, hash)
            .await
            .unwrap();
        conn.batch_execute(&format!(
            "UPDATE sessions SET processing_started_at = now() - interval '6 minutes' \
             WHERE id = '{}'",
            session.id
        ))
        .await
        .unwrap();
        ids.push(session.id.to_string());
    }
    let config = h.config("[jobs]\nrecovery = \"* * * * * *\"\nrecovery_after = \"5m\"\n");

    let (mut first, _) = h.start(&config, Some("recovery-mid=return")).await;
    h.died_at_crash_point(&mut first).await;
    let mut statuses = vec![h.status(&ids[0]).await, h.status(&ids[1]).await];
    statuses.sort();
    assert_eq!(
        statuses,
        ["paid", "processing"],
        "one resolved, then the crash"
    );

    let (_second, _) = h.start(&config, None).await;
    for id in &ids {
        h.paid_once(id).await;
    }
}
