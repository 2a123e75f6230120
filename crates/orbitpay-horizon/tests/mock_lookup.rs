//! Transaction lookup and account_merge amounts against mockito. Only a 404 problem+json is
//! `NotFound`; every transient failure is `Unavailable`.

mod common;

use std::time::Duration;

use common::*;
use mockito::{Matcher, ServerGuard};
use orbitpay_core::{Amount, Operation, TxHash, toid};
use orbitpay_horizon::{HorizonSource, LedgerSource, SourceError, TxLookup};
use serde_json::json;

const HASH: &str = "a434302ea03b42dd00614e258e6b7cdce5dc8a9d7381b1cba8844b75df4f1486";
const LEDGER: u32 = 52_429_011;

fn hash() -> TxHash {
    // Uppercase input: the request must still use lowercase hex.
    HASH.to_uppercase().parse().unwrap()
}

fn tx_body(successful: bool) -> String {
    json!({
        "id": HASH, "paging_token": toid::encode(LEDGER, 3, 0).to_string(),
        "successful": successful, "hash": HASH, "ledger": LEDGER,
        "memo_type": "text", "memo": "hi", "memo_bytes": "aGk=",
        "fee_charged": "100", "operation_count": 1
    })
    .to_string()
}

async fn tx_mock(s: &mut ServerGuard, status: usize, ct: &str, body: String) -> mockito::Mock {
    s.mock("GET", format!("/transactions/{HASH}").as_str())
        .match_query(Matcher::Any)
        .with_status(status)
        .with_header("content-type", ct)
        .with_body(body)
        .create_async()
        .await
}

fn source(s: &ServerGuard) -> HorizonSource {
    let mut cfg = fast_config(&s.url());
    cfg.request_timeout = Duration::from_millis(300);
    HorizonSource::new(cfg).unwrap()
}

#[tokio::test]
async fn a_successful_transaction_is_confirmed_with_its_payments() {
    let mut s = mockito::Server::new_async().await;
    let _t = tx_mock(&mut s, 200, "application/hal+json", tx_body(true)).await;
    let op = toid::encode(LEDGER, 3, 1);
    let mut rec = payment_json(op, 25_000_000);
    rec["transaction_hash"] = json!(HASH);
    rec["transaction"]["hash"] = json!(HASH);
    let pays = s
        .mock("GET", format!("/transactions/{HASH}/payments").as_str())
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("join".into(), "transactions".into()),
            Matcher::UrlEncoded("limit".into(), "200".into()),
        ]))
        .with_header("content-type", "application/hal+json")
        .with_body(page_json(vec![rec]))
        .create_async()
        .await;
    match source(&s).lookup_transaction(&hash()).await {
        TxLookup::Confirmed { ledger, records } => {
            assert_eq!(ledger, LEDGER);
            assert_eq!(records.len(), 1);
            assert_eq!(records[0].op_id, op);
            let Operation::Transfer { amount, .. } = &records[0].operation else {
                panic!()
            };
            assert_eq!(amount.stroops(), 25_000_000);
        }
        other => panic!("{other:?}"),
    }
    pays.assert_async().await;
}

#[tokio::test]
async fn a_failed_transaction_is_failed() {
    let mut s = mockito::Server::new_async().await;
    let _t = tx_mock(&mut s, 200, "application/hal+json", tx_body(false)).await;
    assert_eq!(
        source(&s).lookup_transaction(&hash()).await,
        TxLookup::Failed { ledger: LEDGER }
    );
}

#[tokio::test]
async fn only_a_404_problem_is_not_found() {
    let mut s = mockito::Server::new_async().await;
    let m = tx_mock(
        &mut s,
        404,
        "application/problem+json; charset=utf-8",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/horizon/problem_404_not_found_go_horizonclient.json"
        ))
        .into(),
    )
    .await;
    assert_eq!(
        source(&s).lookup_transaction(&hash()).await,
        TxLookup::NotFound
    );
    m.assert_async().await;

    // A proxy's HTML 404 says nothing about the transaction.
    let mut s = mockito::Server::new_async().await;
    let _m = tx_mock(&mut s, 404, "text/html", "<h1>Not Found</h1>".into()).await;
    assert!(matches!(
        source(&s).lookup_transaction(&hash()).await,
        TxLookup::Unavailable(_)
    ));
}

#[tokio::test]
async fn server_errors_rate_limits_and_garbage_are_unavailable() {
    for (status, ct, body) in [
        (
            503,
            "application/problem+json",
            r#"{"type":"x/service_unavailable","title":"Service Unavailable","status":503}"#,
        ),
        (
            429,
            "application/problem+json",
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fixtures/horizon/problem_429_rate_limit_exceeded_old_horizon_docs.json"
            )),
        ),
        (200, "application/hal+json", "{not json"),
        (200, "text/html", "<html></html>"),
        (
            400,
            "application/problem+json",
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fixtures/horizon/problem_400_bad_request_limit_stellar_docs.json"
            )),
        ),
    ] {
        let mut s = mockito::Server::new_async().await;
        let _m = tx_mock(&mut s, status, ct, body.into()).await;
        let r = source(&s).lookup_transaction(&hash()).await;
        assert!(
            matches!(r, TxLookup::Unavailable(_)),
            "{status} {ct}: {r:?}"
        );
    }
}

#[tokio::test]
async fn a_timeout_is_unavailable() {
    let mut s = mockito::Server::new_async().await;
    let _m = s
        .mock("GET", format!("/transactions/{HASH}").as_str())
        .match_query(Matcher::Any)
        .with_header("content-type", "application/hal+json")
        .with_chunked_body(|w| {
            w.write_all(b"{")?;
            for _ in 0..80 {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(())
        })
        .create_async()
        .await;
    let started = std::time::Instant::now();
    let r = source(&s).lookup_transaction(&hash()).await;
    assert!(
        matches!(&r, TxLookup::Unavailable(m) if m.contains("timed out")),
        "{r:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    let cfg = fast_config("http://127.0.0.1:9/");
    let r = HorizonSource::new(cfg)
        .unwrap()
        .lookup_transaction(&hash())
        .await;
    assert!(matches!(r, TxLookup::Unavailable(_)), "{r:?}");
}

#[tokio::test]
async fn account_merge_amount_comes_from_the_account_credited_effect() {
    let mut s = mockito::Server::new_async().await;
    let op = toid::encode(3000, 2, 1);
    let into = WATCHED;
    let merged = PAYER;
    let hash = format!("{:064x}", op);
    let rec = json!({
        "id": op.to_string(), "paging_token": op.to_string(), "transaction_successful": true,
        "type": "account_merge", "transaction_hash": hash, "account": merged, "into": into,
        "transaction": {"hash": hash, "ledger": 3000, "successful": true, "memo_type": "none"}
    });
    let mut no_effect = rec.clone();
    let op2 = toid::encode(3000, 3, 1);
    no_effect["id"] = json!(op2.to_string());
    no_effect["paging_token"] = json!(op2.to_string());
    let _page = s
        .mock("GET", payments_path().as_str())
        .match_query(Matcher::Any)
        .with_header("content-type", "application/hal+json")
        .with_body(page_json(vec![rec, no_effect]))
        .create_async()
        .await;
    let effects = json!({"_links": {}, "_embedded": {"records": [
        {"type": "account_debited", "account": merged, "amount": "9.9999900", "asset_type": "native"},
        {"type": "account_credited", "account": into, "amount": "9.9999900", "asset_type": "native"},
        {"type": "account_removed", "account": merged}
    ]}});
    let _fx = s
        .mock("GET", format!("/operations/{op}/effects").as_str())
        .match_query(Matcher::Any)
        .with_header("content-type", "application/hal+json")
        .with_body(effects.to_string())
        .create_async()
        .await;
    // Horizon answered, and there is no credit for the destination: a definite `None`.
    let _fx2 = s
        .mock("GET", format!("/operations/{op2}/effects").as_str())
        .match_query(Matcher::Any)
        .with_header("content-type", "application/hal+json")
        .with_body(json!({"_links": {}, "_embedded": {"records": []}}).to_string())
        .create_async()
        .await;
    let page = source(&s).payments_page(&watched(), 1, 200).await.unwrap();
    let amounts: Vec<Option<Amount>> = page
        .records
        .iter()
        .map(|r| match &r.as_ref().unwrap().operation {
            Operation::AccountMerge { amount, .. } => *amount,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        amounts,
        vec![Some(Amount::from_stroops(99_999_900).unwrap()), None]
    );
}

#[tokio::test]
async fn unreachable_merge_effects_fail_the_page_instead_of_degrading_the_record() {
    let mut s = mockito::Server::new_async().await;
    let op = toid::encode(3000, 2, 1);
    let hash = format!("{:064x}", op);
    let rec = json!({
        "id": op.to_string(), "paging_token": op.to_string(), "transaction_successful": true,
        "type": "account_merge", "transaction_hash": hash, "account": PAYER, "into": WATCHED,
        "transaction": {"hash": hash, "ledger": 3000, "successful": true, "memo_type": "none"}
    });
    let _page = s
        .mock("GET", payments_path().as_str())
        .match_query(Matcher::Any)
        .with_header("content-type", "application/hal+json")
        .with_body(page_json(vec![rec]))
        .create_async()
        .await;
    let _fx = s
        .mock("GET", format!("/operations/{op}/effects").as_str())
        .match_query(Matcher::Any)
        .with_status(503)
        .create_async()
        .await;
    let err = source(&s)
        .payments_page(&watched(), 1, 200)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::Status { status: 503, .. }),
        "{err:?}"
    );
}

/// The real pubnet fee-bump (`hash` and `fee_bump_transaction.hash` are the outer hash,
/// `inner_transaction.hash` the one its source signed).
const FEE_BUMP: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/horizon/transaction_fee_bump_muxed_source_pubnet.json"
));
const OUTER: &str = "a261c12d4d400c2954d1e234103907178f4f0767b69a868bf9cf0e2d27cb41a6";
const INNER: &str = "00c0353e0494d4cbab31ac9fba3e83c82c3071fbb96bd69be40f012cc0cf8f3d";

/// Serves the fee-bump under `asked` (with `hash` answered as `answered`) and one payment of
/// it, whose operation names the outer hash as every operation of a fee-bump does.
async fn fee_bump_server(asked: &str, answered: &str) -> (ServerGuard, i64) {
    let mut s = mockito::Server::new_async().await;
    let tx: serde_json::Value = serde_json::from_str(FEE_BUMP).unwrap();
    let mut served = tx.clone();
    served["hash"] = json!(answered);
    served["id"] = json!(answered);
    s.mock("GET", format!("/transactions/{asked}").as_str())
        .match_query(Matcher::Any)
        .with_header("content-type", "application/hal+json")
        .with_body(served.to_string())
        .create_async()
        .await;
    let tx_token: i64 = tx["paging_token"].as_str().unwrap().parse().unwrap();
    let op = tx_token + 1;
    let mut rec = payment_json(op, 10_000_000);
    rec["transaction_hash"] = json!(OUTER);
    rec["transaction"] = tx;
    s.mock("GET", format!("/transactions/{asked}/payments").as_str())
        .match_query(Matcher::Any)
        .with_header("content-type", "application/hal+json")
        .with_body(page_json(vec![rec]))
        .create_async()
        .await;
    (s, op)
}

#[tokio::test]
async fn a_fee_bump_is_confirmed_by_either_hash_and_its_records_carry_both() {
    let outer: TxHash = OUTER.parse().unwrap();
    let inner: TxHash = INNER.parse().unwrap();
    // By the inner hash, answered with the outer one (the fixture as served), or echoed (what
    // Horizon's resource adapter does); and by the outer hash.
    for (asked, answered) in [(INNER, OUTER), (INNER, INNER), (OUTER, OUTER)] {
        let (s, op) = fee_bump_server(asked, answered).await;
        let asked_hash: TxHash = asked.parse().unwrap();
        match source(&s).lookup_transaction(&asked_hash).await {
            TxLookup::Confirmed { ledger, records } => {
                assert_eq!(ledger, 52_419_504, "{asked} answered {answered}");
                assert_eq!(records.len(), 1);
                assert_eq!(records[0].op_id, op);
                assert_eq!(records[0].tx_hash, outer);
                assert_eq!(records[0].inner_tx_hash, Some(inner));
                assert!(records[0].is_of_transaction(inner) && records[0].is_of_transaction(outer));
            }
            other => panic!("{asked} answered {answered}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_transaction_answered_under_an_unrelated_hash_is_still_unavailable() {
    let other = "11".repeat(32);
    let (s, _) = fee_bump_server(&other, OUTER).await;
    let r = source(&s).lookup_transaction(&other.parse().unwrap()).await;
    assert!(matches!(r, TxLookup::Unavailable(_)), "{r:?}");
}
