//! A payer's hostile memo, end to end: a text memo whose bytes are the session's reference plus
//! a NUL (Horizon's scrubbed `memo` reads as the bare reference) is listed as unmatched with its
//! exact bytes, and the normal payment after it is credited: the account never halts.

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use orbitpay_core::{Asset, MuxedAccount};
use orbitpay_horizon_sim::{Op, Tx, units};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_memo_payment_is_unmatched_and_the_next_payment_is_credited() {
    let running = common::start(911, |_| {}).await;
    let (sim, shop, payer, client) = (&running.sim, running.shop, running.payer, &running.client);

    let created = client
        .post_json(
            "/v1/sessions",
            &[("Idempotency-Key", "hostile-1")],
            &json!({ "amount": "5", "asset": "native" }),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201);
    let session: Value = created.json().unwrap();
    let id = session["id"].as_str().unwrap();
    let reference = session["reference"].as_str().unwrap();

    let mut memo = reference.as_bytes().to_vec();
    memo.push(0);
    let hostile = Tx::new(payer).memo_text(memo.clone()).op(Op::payment(
        payer,
        shop,
        Asset::Native,
        units(5),
    ));
    let hostile_hash = sim.close_ledger(vec![hostile]).txs[0].hash.clone();
    let to = MuxedAccount::new(shop, reference.parse().unwrap());
    let normal = Tx::new(payer).op(Op::payment(payer, to, Asset::Native, units(5)));
    let normal_hash = sim.close_ledger(vec![normal]).txs[0].hash.clone();

    let mut paid = Value::Null;
    for _ in 0..200 {
        paid = running.get(&format!("/v1/sessions/{id}")).await;
        if paid["status"] == "paid" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["amount_received"], "5.0000000");
    let payments = paid["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 1, "{paid}");
    assert_eq!(payments[0]["tx_hash"], normal_hash.as_str(), "{paid}");

    let unmatched = running.get("/v1/payments/unmatched").await;
    let rows = unmatched["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{unmatched}");
    let row = &rows[0];
    assert_eq!(row["tx_hash"], hostile_hash.as_str());
    assert_eq!(row["reason"], "no_reference");
    assert_eq!(row["amount"], "5.0000000");
    assert_eq!(row["memo_type"], "text");
    assert_eq!(row["memo_bytes"], STANDARD.encode(&memo), "exact bytes");
    assert_eq!(row["memo_value"], format!("{reference}\\x00"), "escaped");

    running.stop().await;
}
