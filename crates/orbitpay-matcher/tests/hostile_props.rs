//! Property: whatever bytes a payer (or a broken Horizon) puts in a record's fields, the
//! record goes through conversion and the matcher into PostgreSQL without halting the account,
//! and every credit ends up exactly once: credited to a session or recorded as unmatched.
//!
//! Records are Horizon JSON, so every string field a payer controls is fuzzed where it arrives:
//! `memo`, `memo_bytes` (base64 of arbitrary bytes, up to past the 28-byte limit, or not base64
//! at all), `memo_type`, asset codes, muxed ids and M-addresses, the operation type, amounts,
//! and contract balance changes. JSON strings are UTF-8 but may hold NULs; invalid UTF-8
//! reaches the store through `memo_bytes`.

mod common;

use std::cell::Cell;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use orbitpay_core::{Asset, Memo, text, toid};
use orbitpay_horizon::FetchedRecord;
use orbitpay_horizon::convert::record_from_value;
use orbitpay_matcher::prepare;
use orbitpay_store::settlement::Intent;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use serde_json::{Value, json};

/// Strings a stranger might send: NULs, control characters, any Unicode, overlong values.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\0".to_owned()),
        Just("USDC\0".to_owned()),
        Just("\\x00".to_owned()),
        "[\\x00-\\x7f]{0,40}",
        any::<String>(),
        "[A-Za-z0-9]{1,14}",
        "[\u{80}-\u{10ffff}]{0,30}",
    ]
}

/// Some valid, some not: a decimal u64, a reference with a session, anything.
fn muxed_id() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(None),
        3 => (1u64..=4).prop_map(|r| Some(r.to_string())),
        1 => any::<u64>().prop_map(|r| Some(r.to_string())),
        1 => Just(Some("18446744073709551616".to_owned())),
        1 => hostile_string().prop_map(Some),
    ]
}

#[derive(Debug, Clone)]
struct Fields {
    op_type: String,
    asset: (String, Option<String>),
    amount: String,
    to_muxed_id: Option<String>,
    to_muxed: Option<String>,
    memo_type: String,
    memo: Option<String>,
    memo_bytes: Option<String>,
    change_type: String,
}

fn fields() -> impl Strategy<Value = Fields> {
    let op_type = prop_oneof![
        6 => Just("payment".to_owned()),
        1 => Just("path_payment_strict_send".to_owned()),
        1 => Just("invoke_host_function".to_owned()),
        1 => hostile_string(),
    ];
    let asset = prop_oneof![
        3 => Just(("native".to_owned(), None)),
        1 => Just(("credit_alphanum4".to_owned(), Some("USDC".to_owned()))),
        2 => (
            prop_oneof![
                Just("credit_alphanum4".to_owned()),
                Just("credit_alphanum12".to_owned()),
                hostile_string()
            ],
            hostile_string().prop_map(Some)
        ),
    ];
    let amount = prop_oneof![
        4 => (1i64..=50_000_000).prop_map(|s| format!("{}.{:07}", s / 10_000_000, s % 10_000_000)),
        1 => Just("0.0000000".to_owned()),
        1 => hostile_string(),
    ];
    let memo_type = prop_oneof![
        2 => Just("none".to_owned()),
        4 => Just("text".to_owned()),
        1 => Just("id".to_owned()),
        1 => Just("hash".to_owned()),
        1 => Just("return".to_owned()),
        1 => hostile_string(),
    ];
    let memo_bytes = prop_oneof![
        1 => Just(None),
        4 => prop::collection::vec(any::<u8>(), 0..=28).prop_map(|b| Some(STANDARD.encode(b))),
        1 => prop::collection::vec(prop_oneof![Just(0u8), Just(b'1'), Just(0xff)], 0..=28)
            .prop_map(|b| Some(STANDARD.encode(b))),
        1 => (1u64..=4).prop_map(|r| Some(STANDARD.encode(r.to_string()))),
        1 => prop::collection::vec(any::<u8>(), 29..=40).prop_map(|b| Some(STANDARD.encode(b))),
        1 => hostile_string().prop_map(Some),
    ];
    let memo = prop_oneof![
        Just(None),
        (1u64..=4).prop_map(|r| Some(r.to_string())),
        hostile_string().prop_map(Some),
        Just(Some(STANDARD.encode([7u8; 32]))),
    ];
    (
        (op_type, asset, amount, muxed_id()),
        prop::option::of(hostile_string()),
        (memo_type, memo, memo_bytes),
        hostile_string(),
    )
        .prop_map(
            |(
                (op_type, asset, amount, to_muxed_id),
                to_muxed,
                (memo_type, memo, memo_bytes),
                change_type,
            )| Fields {
                op_type,
                asset,
                amount,
                to_muxed_id,
                to_muxed,
                memo_type,
                memo,
                memo_bytes,
                change_type,
            },
        )
}

/// A record of transaction `n` (its own ledger) carrying `f`.
fn record_json(n: u64, f: &Fields) -> Value {
    let ledger = 1000 + u32::try_from(n).unwrap();
    let token = toid::encode(ledger, 1, 1).to_string();
    let tx_hash = hash(n).to_string();
    let merchant = account(MERCHANT).to_string();
    let payer = account(PAYER).to_string();
    let issuer = account(3).to_string();
    let mut tx = json!({
        "hash": tx_hash, "ledger": ledger, "successful": true, "memo_type": f.memo_type,
    });
    if let Some(m) = &f.memo {
        tx["memo"] = json!(m);
    }
    if let Some(b) = &f.memo_bytes {
        tx["memo_bytes"] = json!(b);
    }
    let mut v = json!({
        "id": token, "paging_token": token, "transaction_successful": true,
        "type": f.op_type, "transaction_hash": tx_hash,
        "from": payer, "to": merchant, "amount": f.amount, "source_amount": "1.0000000",
        "asset_type": f.asset.0, "transaction": tx,
    });
    if let Some(code) = &f.asset.1 {
        v["asset_code"] = json!(code);
        v["asset_issuer"] = json!(issuer);
    }
    if let Some(id) = &f.to_muxed_id {
        v["to_muxed_id"] = json!(id);
    }
    if let Some(m) = &f.to_muxed {
        v["to_muxed"] = json!(m);
    }
    if f.op_type == "invoke_host_function" {
        let mut change = json!({
            "asset_type": f.asset.0, "type": f.change_type, "from": payer, "to": merchant,
            "amount": f.amount,
        });
        if let Some(code) = &f.asset.1 {
            change["asset_code"] = json!(code);
            change["asset_issuer"] = json!(issuer);
        }
        if let Some(id) = &f.to_muxed_id {
            change["destination_muxed_id"] = json!(id);
        }
        v["asset_balance_changes"] = json!([change]);
    }
    v
}

#[test]
fn no_payer_bytes_halt_the_account_and_every_credit_is_credited_or_recorded() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let f = rt.block_on(async {
        let f = Fixture::new().await;
        for reference in 1..=3 {
            f.session(Asset::Native, "1000000", reference).await;
        }
        f.session(usdc(3), "1000000", 4).await;
        f
    });
    let next_tx = Cell::new(0u64);
    // A fixed seed unless PROPTEST_RNG_SEED names one: the reach check at the end is about the
    // generator, and a random seed left it to chance (one run in many drew no credit at all).
    let defaults = Config::default();
    let rng_seed = match defaults.rng_seed {
        RngSeed::Random => RngSeed::Fixed(0x6f72_6269_7470_6179),
        chosen => chosen,
    };
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        rng_seed,
        ..defaults
    });
    let batch = prop::collection::vec(fields(), 1..=8);
    runner
        .run(&batch, |batch| {
            rt.block_on(async {
                let fetched: Vec<FetchedRecord> = batch
                    .iter()
                    .map(|fields| {
                        next_tx.set(next_tx.get() + 1);
                        record_from_value(record_json(next_tx.get(), fields), None)
                    })
                    .collect();
                let records: Vec<_> = fetched.iter().map(|r| r.clone().unwrap()).collect();
                let up_to = records.last().unwrap().op_id;
                let result = f.matcher.handle(&f.account, &fetched, up_to).await;
                prop_assert!(result.is_ok(), "halted: {result:?} on {batch:?}");
                prop_assert_eq!(f.cursor().await, Some(up_to));

                for r in &records {
                    let rows = f
                        .count(&format!(
                            "SELECT (SELECT count(*) FROM payment_operations WHERE op_id = {0})
                                  + (SELECT count(*) FROM unmatched_payments WHERE op_id = {0})",
                            r.op_id
                        ))
                        .await;
                    let expected = match prepare::intent(r, &f.account) {
                        Intent::Skip(_) | Intent::Outgoing(_) => 0,
                        _ => 1,
                    };
                    prop_assert_eq!(rows, expected, "op {} of {:?}", r.op_id, r);
                    if let (Memo::Text(t), 1) = (&r.memo, rows) {
                        let exact = f
                            .count(&format!(
                                "SELECT count(*) FROM unmatched_payments WHERE op_id = {} AND
                                 (memo_bytes <> '\\x{}'::bytea OR memo_value <> '{}')",
                                r.op_id,
                                hex(t.as_bytes()),
                                text::escape(t.as_bytes()).replace('\'', "''")
                            ))
                            .await;
                        prop_assert_eq!(exact, 0, "memo of op {} not kept exactly", r.op_id);
                    }
                }
                let processing = f
                    .count("SELECT count(*) FROM sessions WHERE status = 'processing'")
                    .await;
                prop_assert_eq!(processing, 0);
                Ok(())
            })
        })
        .unwrap();
    let (credited, unmatched) = rt.block_on(async {
        (
            f.count("SELECT count(*) FROM payment_operations").await,
            f.count("SELECT count(*) FROM unmatched_payments").await,
        )
    });
    // The generator must reach both outcomes, or the property proves little.
    assert!(
        credited > 0 && unmatched > 0,
        "{credited} credited, {unmatched} unmatched"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
