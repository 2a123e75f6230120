//! Every real Horizon response in fixtures/horizon goes through the wire types and the
//! conversion, and its key facts are checked. A new fixture file that this test does not
//! classify fails it, so the sweep stays complete.

use std::path::{Path, PathBuf};

use orbitpay_core::{Address, Amount, Asset, Memo, MuxedAccount, Operation, TransferKind, toid};
use orbitpay_horizon::convert::{memo_of, operation_of, record_from_json, record_from_value};
use orbitpay_horizon::wire::{OperationRecord, Page, Problem, RootResponse, TransactionRecord};
use serde_json::{Value, json};

fn dir() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/horizon"
    ))
    .to_path_buf()
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Gives a bare operation record the transaction `join=transactions` would embed.
fn joined(mut v: Value, memo: Value) -> Value {
    let token: i64 = v["paging_token"].as_str().unwrap().parse().unwrap();
    let mut tx = json!({
        "hash": v["transaction_hash"],
        "ledger": toid::ledger(token),
        "successful": v["transaction_successful"],
        "memo_type": "none",
    });
    if let Value::Object(m) = memo {
        tx.as_object_mut().unwrap().extend(m);
    }
    v["transaction"] = tx;
    v
}

fn stroops(s: &str) -> i64 {
    s.parse::<Amount>().unwrap().stroops()
}

fn check_operation(name: &str, v: Value) {
    let rec: OperationRecord = serde_json::from_value(v.clone()).unwrap();
    let op = operation_of(&rec).unwrap_or_else(|e| panic!("{name}: {e}"));
    // Without the embedded transaction the memo is unknown: recorded, not guessed.
    let bare = record_from_value(v.clone(), None).unwrap();
    assert!(
        matches!(bare.operation, Operation::Unsupported { .. }),
        "{name}"
    );
    let full = record_from_value(joined(v.clone(), json!({})), None).unwrap();
    assert_eq!(full.operation, op, "{name}");
    assert_eq!(full.op_id.to_string(), rec.paging_token);
    assert_eq!(full.tx_hash.to_string(), rec.transaction_hash);
    assert_eq!(full.successful, rec.transaction_successful.unwrap());

    match name {
        "op_payment_usdc_pubnet.json" => {
            assert_eq!(
                op,
                Operation::Transfer {
                    kind: TransferKind::Payment,
                    from: "GC5LF63GRVIT5ZXXCXLPI3RX2YXKJQFZVBSAO6AUELN3YIMSWPD6Z6FH"
                        .parse()
                        .unwrap(),
                    to: "GAFK7XFZHMLSNV7OJTBO7BAIZA66X6QIBV5RMZZYXK4Q7ZSO52J5C3WQ"
                        .parse()
                        .unwrap(),
                    asset: "USDC:GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN"
                        .parse()
                        .unwrap(),
                    amount: Amount::from_stroops(390_000_000).unwrap(),
                }
            );
        }
        "op_path_payment_strict_receive_FAILED_pubnet.json" => {
            assert!(!full.successful);
            let Operation::Transfer {
                kind,
                amount,
                asset,
                ..
            } = &op
            else {
                panic!()
            };
            assert_eq!(*kind, TransferKind::PathPaymentStrictReceive);
            // The destination amount, not `source_amount` ("0.0000000").
            assert_eq!(amount.stroops(), stroops("2386.8885355"));
            assert_eq!(*asset, Asset::Native);
        }
        "op_path_payment_strict_send_pubnet.json" => {
            let Operation::Transfer {
                kind,
                amount,
                asset,
                from,
                to,
            } = &op
            else {
                panic!()
            };
            assert_eq!(*kind, TransferKind::PathPaymentStrictSend);
            assert_eq!(amount.stroops(), 5045);
            assert_eq!(asset.code(), Some("BTC"));
            assert_eq!(from, to, "self-payment arbitrage");
        }
        "op_create_account_pubnet.json" => {
            let Operation::CreateAccount {
                starting_balance,
                account,
                ..
            } = &op
            else {
                panic!()
            };
            assert_eq!(starting_balance.stroops(), 40_000_000);
            assert_eq!(
                account.to_string(),
                "GCYXLFYRSJWRPQ7JYSPHDNFRNXQ377BNUHF3TDZCPCQMVJS2QKMXCT2E"
            );
        }
        "op_account_merge_pubnet.json" => {
            let Operation::AccountMerge { into, amount, .. } = &op else {
                panic!()
            };
            assert_eq!(
                *amount, None,
                "no amount in the record; the source fills it from effects"
            );
            assert_eq!(
                into.to_string(),
                "GDYG6NVTFCY6HPBRQ3SQNKTDZUR7SS6WAWNEAKAFJW5EMKDGQLPG523C"
            );
        }
        "op_invoke_host_function_sac_transfer_asset_balance_changes.json" => {
            let Operation::ContractTransfers { changes } = &op else {
                panic!()
            };
            assert_eq!(changes.len(), 1);
            let c = &changes[0];
            assert_eq!(c.change_type, "transfer");
            assert_eq!(c.destination_muxed_id, Some(123_456_789));
            let g = "GBMLPRFCZDZJPKUPHUSHCKA737GOZL7ERZLGGMJ6YGHBFJZ6ZKMKCZTM"
                .parse()
                .unwrap();
            assert_eq!(
                c.to,
                Some(Address::Muxed(MuxedAccount::new(g, 123_456_789)))
            );
            assert_eq!(c.amount.stroops(), 5_000_000_000);
            assert_eq!(
                c.asset,
                Asset::from_horizon(
                    "credit_alphanum12",
                    Some("Hello"),
                    Some("GDJKBIYIPBE2NC5XIZX6GCFZHVWFUA7ONMQUOOVTLIM3BESTI4BYADAN")
                )
                .unwrap()
            );
        }
        other => panic!("unclassified operation fixture {other}"),
    }
}

fn check_page(name: &str, text: &str) {
    let page: Page<Value> = serde_json::from_str(text).unwrap();
    assert!(
        page.links.next.is_some(),
        "{name}: _links.next is always present"
    );
    let ops: Vec<Operation> = page
        .embedded
        .records
        .iter()
        .map(|v| operation_of(&serde_json::from_value(v.clone()).unwrap()).unwrap())
        .collect();
    for v in &page.embedded.records {
        let r = record_from_value(joined(v.clone(), json!({})), None).unwrap();
        assert!(
            !matches!(r.operation, Operation::Unsupported { .. }),
            "{name}"
        );
    }
    match name {
        "payments_page_pubnet_create_account_and_payment.json" => {
            assert_eq!(ops.len(), 3);
            assert_eq!(page.next_cursor(), Some(33_676_838_572_033));
            let Operation::Transfer { amount, asset, .. } = &ops[1] else {
                panic!()
            };
            assert_eq!(amount.stroops(), 999_999_999_599_999_700);
            assert_eq!(*asset, Asset::Native);
            assert!(matches!(ops[0], Operation::CreateAccount { .. }));
        }
        "payments_page_testnet_desc_go_horizonclient.json" => {
            assert_eq!(ops.len(), 2);
            let Operation::Transfer { amount, .. } = &ops[1] else {
                panic!()
            };
            assert_eq!(amount.stroops(), 1_770_000_000);
        }
        other => panic!("unclassified page fixture {other}"),
    }
}

fn check_transaction(name: &str, text: &str) {
    let tx: TransactionRecord = serde_json::from_str(text).unwrap();
    let memo = memo_of(&tx).unwrap();
    match name {
        "transaction_memo_text_pubnet.json" => {
            assert!(tx.successful);
            assert_eq!(tx.ledger, 52_429_011);
            assert_eq!(
                memo,
                Memo::text(b"0,075% Daily for Holders".to_vec()).unwrap()
            );
        }
        "transaction_failed_pubnet.json" => {
            assert!(!tx.successful);
            assert_eq!(tx.ledger, 52_429_114);
            assert_eq!(memo, Memo::None);
        }
        "transaction_fee_bump_muxed_source_pubnet.json" => {
            assert!(tx.successful);
            assert_eq!(tx.account_muxed_id.as_deref(), Some("21449687443220"));
            assert!(tx.fee_bump_transaction.is_some());
            assert_eq!(memo, Memo::None);
        }
        "transaction_memo_hash_pubnet_go_protocols.json" => {
            assert_eq!(memo, Memo::Hash(*b"35281f58ff910cb15aad5636db2753e0"));
        }
        other => panic!("unclassified transaction fixture {other}"),
    }
}

fn check_problem(name: &str, text: &str) {
    let p: Problem = serde_json::from_str(text).unwrap();
    let (kind, status) = match name {
        "problem_400_bad_request_limit_stellar_docs.json" => ("bad_request", 400),
        "problem_404_not_found_go_horizonclient.json" => ("not_found", 404),
        "problem_404_not_found_py_stellar_base.json" => ("not_found", 404),
        "problem_410_before_history_stellar_docs.json" => ("before_history", 410),
        "problem_429_rate_limit_exceeded_old_horizon_docs.json" => ("rate_limit_exceeded", 429),
        other => panic!("unclassified problem fixture {other}"),
    };
    assert_eq!((p.kind(), p.status), (kind, status), "{name}");
    assert!(
        p.detail.is_some(),
        "{name}: detail (or the docs' `details`)"
    );
}

/// `data:` lines: single-line JSON records convert; the doc capture's re-flowed JSON (only its
/// first line is a `data:` line) is an unreadable record that still carries its SSE id.
fn check_sse(name: &str, text: &str) {
    let mut last_id = None;
    let mut seen = 0;
    for line in text.lines() {
        if let Some(id) = line.strip_prefix("id: ") {
            last_id = id.trim().parse::<i64>().ok();
        }
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        match serde_json::from_str::<Value>(data) {
            Ok(Value::String(s)) => assert!(s == "hello" || s == "byebye", "{name}: {s}"),
            Ok(v @ Value::Object(_)) => {
                seen += 1;
                let r = record_from_value(v.clone(), last_id).unwrap();
                // No embedded transaction in these captures.
                assert!(matches!(r.operation, Operation::Unsupported { .. }));
                let op = operation_of(&serde_json::from_value(v.clone()).unwrap()).unwrap();
                let Operation::CreateAccount {
                    starting_balance, ..
                } = op
                else {
                    panic!()
                };
                assert_eq!(starting_balance.stroops(), 100_000_000_000);
                let joined = record_from_value(joined(v, json!({})), last_id).unwrap();
                assert_eq!(joined.op_id, 4_934_917_427_201);
            }
            Ok(other) => panic!("{name}: unexpected data {other}"),
            Err(_) => {
                if name == "sse_capture_account_payments_stream_horizon_docs.txt" {
                    seen += 1;
                    let e = record_from_json(data, last_id).unwrap_err();
                    assert_eq!(e.paging_token, Some(713_226_564_145_153));
                } else {
                    // The wire-format notes hold placeholders (`{<record JSON on one line>}`)
                    // and plain-text error data; both are covered by the crate's SSE tests.
                    assert!(
                        data.starts_with('{') && data.contains('<') || !data.starts_with('{'),
                        "{name}: {data}"
                    );
                }
            }
        }
    }
    if name != "sse_wire_format_from_horizon_source_and_tests.txt" {
        assert_eq!(seen, 1, "{name}");
    }
}

#[test]
fn every_fixture_parses_and_says_what_it_should() {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("fixtures/horizon in the repository")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut checked = 0;
    for name in &names {
        let text = read(name);
        match name.as_str() {
            "SOURCES.md" => continue,
            n if n.starts_with("op_") => check_operation(n, serde_json::from_str(&text).unwrap()),
            n if n.starts_with("payments_page_") => check_page(n, &text),
            n if n.starts_with("transaction_") => check_transaction(n, &text),
            n if n.starts_with("problem_") => check_problem(n, &text),
            n if n.starts_with("sse_") => check_sse(n, &text),
            n if n.starts_with("root") => {
                serde_json::from_str::<RootResponse>(&text).unwrap();
            }
            other => panic!("fixture {other} is not classified by this test"),
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} fixtures found");
}

#[test]
fn a_root_response_parses() {
    // No root fixture exists; this is the documented field set of `GET /`.
    let r: RootResponse = serde_json::from_value(json!({
        "horizon_version": "22.0.0", "core_version": "stellar-core 22.0.0",
        "ingest_latest_ledger": 1000, "history_latest_ledger": 1000,
        "history_latest_ledger_closed_at": "2024-07-05T06:01:20Z", "history_elder_ledger": 2,
        "core_latest_ledger": 1000, "network_passphrase": "Test SDF Network ; September 2015",
        "current_protocol_version": 22, "supported_protocol_version": 22,
        "core_supported_protocol_version": 22
    }))
    .unwrap();
    assert_eq!((r.history_elder_ledger, r.history_latest_ledger), (2, 1000));
}
