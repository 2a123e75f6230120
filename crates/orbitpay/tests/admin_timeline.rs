//! `orbitpay sessions show`'s timeline, of a session paid in two transactions: the real matcher
//! confirms each reported transaction on the simulated ledger and settles it, and webhook
//! attempts are recorded through the dispatcher's own store calls.

mod admin_support;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use admin_support::*;
use orbitpay::admin::{ReportError, ReportOutcome, TxReporter};
use orbitpay_cli::exit;
use orbitpay_core::{AccountId, Asset, MuxedAccount, TxHash};
use orbitpay_horizon::{HorizonConfig, HorizonSource, LedgerSource};
use orbitpay_horizon_sim::{HorizonSim, Op, Tx, derive_account, stroops};
use orbitpay_matcher::{Matcher, MatcherConfig};
use orbitpay_store::deliveries::{self, Attempt, Outcome};
use serde_json::Value;
use uuid::Uuid;

/// The daemon's wiring of the report path: the matcher answers.
struct Reporter(Arc<Matcher>);

#[async_trait::async_trait]
impl TxReporter for Reporter {
    async fn report_tx(
        &self,
        session_id: Uuid,
        tx_hash: TxHash,
        wait: Duration,
    ) -> Result<ReportOutcome, ReportError> {
        self.0.report_tx(session_id, tx_hash, wait).await
    }
}

/// Closes a ledger with one payment of `amount` stroops of XLM to the session's muxed address;
/// returns its transaction hash and ledger.
fn pay(sim: &HorizonSim, payer: AccountId, reference: u64, amount: i64) -> (String, u32) {
    let shop: AccountId = ACCOUNT.parse().unwrap();
    let closed = sim.close_ledger(vec![Tx::new(payer).op(Op::payment(
        payer,
        MuxedAccount::new(shop, reference),
        Asset::Native,
        stroops(amount),
    ))]);
    (closed.txs[0].hash.clone(), closed.sequence)
}

/// Plays the dispatcher until nothing is due: the short credit's first POST gets a 503 and its
/// retry a 200, `session.paid` gets a 503 (retried an hour later), everything else a 200.
async fn deliver(h: &Harness) {
    let mut conn = h.db.conn().await;
    loop {
        let claimed = deliveries::claim(&mut conn, "test", Duration::from_secs(60), 10, 4)
            .await
            .unwrap();
        if claimed.is_empty() {
            return;
        }
        for c in &claimed {
            let refused = match c.event_type.as_str() {
                "session.partially_paid" => c.attempt == 1,
                "session.paid" => true,
                _ => false,
            };
            let (status, outcome) = if refused {
                let delay = if c.event_type == "session.paid" {
                    3600
                } else {
                    0
                };
                (
                    503,
                    Outcome::Retry {
                        delay: Duration::from_secs(delay),
                    },
                )
            } else {
                (200, Outcome::Delivered)
            };
            let attempt = Attempt {
                started_at: chrono::Utc::now(),
                latency: Duration::from_millis(3),
                status: Some(status),
                error: None,
                response_snippet: None,
            };
            assert!(
                deliveries::start_attempt(&mut conn, c, "test", Duration::from_secs(60))
                    .await
                    .unwrap()
            );
            assert!(
                deliveries::record(&mut conn, c, "test", &attempt, outcome)
                    .await
                    .unwrap()
            );
        }
    }
}

#[tokio::test]
async fn an_underpaid_session_topped_up_shows_each_step_with_its_ledger_and_webhook() {
    let sim = HorizonSim::with_seed(28);
    let shop: AccountId = ACCOUNT.parse().unwrap();
    let payer = derive_account(28, 1);
    sim.register_account(shop);
    sim.register_account(payer);
    let server = sim.serve("127.0.0.1:0").await.unwrap();
    let mut cfg = HorizonConfig::new(server.base_url().parse().unwrap());
    cfg.request_timeout = Duration::from_secs(5);
    let source: Arc<dyn LedgerSource> = Arc::new(HorizonSource::new(cfg).unwrap());
    let h = Harness::start_with(|_, state| {
        let matcher = Matcher::new(state.pool.clone(), source, MatcherConfig::default());
        state.reporter = Arc::new(Reporter(matcher));
    })
    .await;
    let mut conn = h.db.conn().await;
    deliveries::set_default_endpoint(&mut conn, Some(WEBHOOK_URL))
        .await
        .unwrap();

    let (code, out, err) = cli(&h, "sessions create --amount 12.5 --asset native --json").await;
    assert_eq!(code, exit::OK, "{err}");
    let session: Value = serde_json::from_str(&out).unwrap();
    let id = session["id"].as_str().unwrap().to_owned();
    let reference = u64::from_str(session["reference"].as_str().unwrap()).unwrap();

    // 5 of 12.5: short, pending again; then the 7.5 that is missing: paid.
    let (short_tx, short_ledger) = pay(&sim, payer, reference, 50_000_000);
    let (code, out, err) = cli(&h, &format!("sessions report-tx {id} {short_tx}")).await;
    assert_eq!(code, exit::OK, "{err}");
    assert!(
        out.contains("outcome: settled") && out.contains("pending"),
        "{out}"
    );
    deliver(&h).await;
    let (top_up_tx, top_up_ledger) = pay(&sim, payer, reference, 75_000_000);
    let (code, out, err) = cli(&h, &format!("sessions report-tx {id} {top_up_tx}")).await;
    assert_eq!(code, exit::OK, "{err}");
    assert!(
        out.contains("outcome: settled") && out.contains("paid"),
        "{out}"
    );
    deliver(&h).await;

    let (code, out, err) = cli(&h, &format!("sessions show {id} --json")).await;
    assert_eq!(code, exit::OK, "{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["status"], "paid");
    assert_eq!(shown["payments"].as_array().unwrap().len(), 2);
    let timeline = shown["timeline"].as_array().unwrap();
    let step = |e: &Value| {
        (
            e["type"].as_str().unwrap().to_owned(),
            e["status"].as_str().map(str::to_owned),
            e["amount_received"].as_str().map(str::to_owned),
            e["amount"].as_str().map(str::to_owned),
            e["tx_hash"].as_str().map(str::to_owned),
            e["ledger"].as_u64().map(|l| l as u32),
        )
    };
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        timeline.iter().map(step).collect::<Vec<_>>(),
        vec![
            (
                "session.created".into(),
                s("pending"),
                s("0.0000000"),
                None,
                None,
                None
            ),
            // The claim names the ledger once its transaction was credited.
            (
                "session.processing".into(),
                s("processing"),
                s("0.0000000"),
                None,
                s(&short_tx),
                Some(short_ledger)
            ),
            (
                "session.partially_paid".into(),
                s("pending"),
                s("5.0000000"),
                s("5.0000000"),
                s(&short_tx),
                Some(short_ledger)
            ),
            (
                "session.processing".into(),
                s("processing"),
                s("5.0000000"),
                None,
                s(&top_up_tx),
                Some(top_up_ledger)
            ),
            (
                "session.paid".into(),
                s("paid"),
                s("12.5000000"),
                s("7.5000000"),
                s(&top_up_tx),
                Some(top_up_ledger)
            ),
        ],
        "{out}"
    );
    // Each event's one delivery, with its last attempt only.
    let last = |i: usize| {
        let deliveries = timeline[i]["deliveries"].as_array().unwrap();
        assert_eq!(deliveries.len(), 1, "{}", timeline[i]);
        let d = &deliveries[0];
        assert_eq!(d["url"], WEBHOOK_URL);
        (
            d["status"].as_str().unwrap().to_owned(),
            d["last_attempt"]["attempt"].as_i64().unwrap(),
            d["last_attempt"]["status"].as_i64().unwrap(),
        )
    };
    assert_eq!(last(0), ("delivered".into(), 1, 200));
    assert_eq!(
        last(2),
        ("delivered".into(), 2, 200),
        "the retry's 200, not the first 503"
    );
    assert_eq!(
        last(4),
        ("pending".into(), 1, 503),
        "refused, retried later"
    );

    // The table: one line per event, in the same order, with its transaction and webhook.
    let (code, out, _) = cli(&h, &format!("sessions show {id}")).await;
    assert_eq!(code, exit::OK);
    let lines: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("CREATED"))
        .skip(1)
        .collect();
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "session.created",
            "session.processing",
            "session.partially_paid",
            "session.processing",
            "session.paid"
        ],
        "{out}"
    );
    assert!(
        lines[2].contains(&short_tx) && lines[2].contains(" delivered 200 at "),
        "{out}"
    );
    assert!(
        lines[4].contains(&top_up_tx)
            && lines[4].contains(&top_up_ledger.to_string())
            && lines[4].contains(" pending 503 at "),
        "{out}"
    );
    drop(server);
}
