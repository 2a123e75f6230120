//! A merchant's checkout, end to end: sessions created over the admin socket, paid on the
//! (simulated) ledger, confirmed by the stream or by a client-reported hash, with retries and
//! duplicates along the way.

use std::time::Duration;

use orbitpay_cli::ApiResponse;
use orbitpay_core::{Asset, MuxedAccount};
use orbitpay_horizon_sim::{Op, Tx, units};
use serde_json::{Value, json};

mod common;

/// The merchant's and the customer's side of a running daemon.
struct Shop<'a>(&'a common::Running);

impl Shop<'_> {
    async fn create(&self, key: &str, amount: &str) -> Value {
        let r = self
            .0
            .client
            .post_json(
                "/v1/sessions",
                &[("Idempotency-Key", key)],
                &json!({ "amount": amount, "asset": "native" }),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json().unwrap()
    }

    fn pay(&self, session: &Value, whole_units: i64) -> String {
        let reference: u64 = session["reference"].as_str().unwrap().parse().unwrap();
        let to = MuxedAccount::new(self.0.shop, reference);
        let op = Op::payment(self.0.payer, to, Asset::Native, units(whole_units));
        self.0
            .sim
            .close_ledger(vec![Tx::new(self.0.payer).op(op)])
            .txs[0]
            .hash
            .clone()
    }

    async fn get(&self, path: &str) -> Value {
        self.0.get(path).await
    }

    async fn report(&self, id: &str, key: &str, tx_hash: &str) -> ApiResponse {
        let path = format!("/v1/sessions/{id}/payments");
        self.0
            .client
            .post_json(
                &path,
                &[("Idempotency-Key", key)],
                &json!({ "tx_hash": tx_hash }),
            )
            .await
            .unwrap()
    }

    async fn wait_status(&self, id: &str, status: &str) -> Value {
        for _ in 0..200 {
            let s = self.get(&format!("/v1/sessions/{id}")).await;
            if s["status"] == status {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "session {id} never became {status}: {}",
            self.get(&format!("/v1/sessions/{id}")).await
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_from_session_to_paid_through_the_running_daemon() {
    let running = common::start(4242, |c| c.admin.confirm_wait = Duration::from_secs(1)).await;
    let shop = Shop(&running);

    // Paid by the stream.
    let a = shop.create("checkout-a", "10").await;
    let a_id = a["id"].as_str().unwrap();
    shop.pay(&a, 10);
    let paid = shop.wait_status(a_id, "paid").await;
    assert_eq!(paid["amount_received"], "10.0000000");
    assert_eq!(paid["payments"].as_array().unwrap().len(), 1);

    // Reported by the checkout with the wallet's hash; the retry replays the stored answer.
    let b = shop.create("checkout-b", "3").await;
    let b_id = b["id"].as_str().unwrap();
    let hash = shop.pay(&b, 3);
    let first = shop.report(b_id, "report-b", &hash).await;
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert_eq!(first.json().unwrap()["status"], "paid");
    let retry = shop.report(b_id, "report-b", &hash).await;
    assert_eq!(
        (retry.status, &retry.body),
        (200, &first.body),
        "replayed byte for byte"
    );
    let b_now = shop.wait_status(b_id, "paid").await;
    assert_eq!(
        b_now["payments"].as_array().unwrap().len(),
        1,
        "stream and report credit once"
    );

    // After a partial payment, the pay URI asks only for what is still owed.
    let d = shop.create("checkout-d", "10").await;
    let d_id = d["id"].as_str().unwrap();
    assert!(
        d["payment_instructions"]["pay_uri"]
            .as_str()
            .unwrap()
            .contains("amount=10.0000000")
    );
    shop.pay(&d, 4);
    let mut partly = Value::Null;
    for _ in 0..200 {
        partly = shop.get(&format!("/v1/sessions/{d_id}")).await;
        if partly["amount_received"] == "4.0000000" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(partly["status"], "pending");
    let uri = partly["payment_instructions"]["pay_uri"].as_str().unwrap();
    assert!(uri.contains("amount=6.0000000"), "{uri}");

    // A hash that is not on the ledger releases the claim.
    let c = shop.create("checkout-c", "1").await;
    let c_id = c["id"].as_str().unwrap();
    let missing = "ab".repeat(32);
    let released = shop.report(c_id, "report-c", &missing).await;
    assert_eq!(released.status, 201);
    assert_eq!(released.json().unwrap()["status"], "pending");

    // A duplicate payment to the paid session is recorded, not credited.
    shop.pay(&a, 10);
    let mut unmatched = Value::Null;
    for _ in 0..200 {
        unmatched = shop.get("/v1/payments/unmatched").await;
        if unmatched.to_string().contains("already_paid") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(unmatched.to_string().contains(a_id), "{unmatched}");
    assert_eq!(
        shop.get(&format!("/v1/sessions/{a_id}")).await["amount_received"],
        "10.0000000"
    );

    // The feed serves a commit once older writing transactions in the cluster have ended.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut events = shop.get("/v1/events?limit=100").await.to_string();
    while !events.contains("session.late_payment") && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        events = shop.get("/v1/events?limit=100").await.to_string();
    }
    for event in [
        "session.created",
        "session.processing",
        "session.paid",
        "session.released",
        "session.late_payment",
    ] {
        assert!(events.contains(event), "{event} missing from the feed");
    }

    running.stop().await;
}
