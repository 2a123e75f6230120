//! Every credit leaves a row with its details: an unmatched row keeps the operation as the
//! source sent it (`raw_operation`, capped, NUL-safe) and a contract transfer's i128 amount.

mod common;

use common::*;
use orbitpay_core::{Address, BalanceChange, ContractAmount, ContractId, Memo, Operation};
use orbitpay_horizon::convert::record_from_value;
use serde_json::{Value, json};

const PAYMENT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/horizon/op_payment_usdc_pubnet.json"
));

/// The fixture's payment as Horizon sent it (no embedded transaction, so uninterpretable here),
/// with `extra` fields merged in.
fn horizon_payment(extra: Value) -> Value {
    let mut v: Value = serde_json::from_str(PAYMENT).unwrap();
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    v
}

async fn raw_of(f: &Fixture, op_id: i64) -> Value {
    let mut conn = f.db.conn().await;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use orbitpay_store::schema::unmatched_payments as u;
    u::table
        .filter(u::op_id.eq(op_id))
        .select(u::raw_operation)
        .get_result::<Option<Value>>(&mut conn)
        .await
        .unwrap()
        .expect("raw_operation kept")
}

#[tokio::test]
async fn an_uninterpretable_record_keeps_the_operation_as_received() {
    let f = Fixture::new().await;
    let json = horizon_payment(json!({}));
    let r = record_from_value(json.clone(), None).unwrap();
    assert!(
        matches!(r.operation, Operation::Unsupported { .. }),
        "{r:?}"
    );
    f.handle(std::slice::from_ref(&r)).await;
    assert_eq!(
        f.count("SELECT count(*) FROM unmatched_payments WHERE reason = 'unsupported_operation'")
            .await,
        1
    );
    let raw = raw_of(&f, r.op_id).await;
    assert_eq!(raw, json);
    // What a refund needs is in it.
    for field in ["amount", "asset_code", "asset_issuer", "from"] {
        assert!(raw[field].is_string(), "{field}");
    }
}

#[tokio::test]
async fn a_credit_to_an_unknown_session_keeps_its_operation() {
    let f = Fixture::new().await;
    let mut r = pay(1, 1, muxed(77), usdc(9), "3", Memo::None);
    let raw = json!({"type": "payment", "amount": "3.0000000", "to_muxed_id": "77"});
    r.raw = Some(raw.clone().into());
    f.handle(std::slice::from_ref(&r)).await;
    assert_eq!(
        f.count(&format!(
            "SELECT count(*) FROM unmatched_payments WHERE op_id = {} AND reason = 'unknown_reference'
               AND amount = 30000000",
            r.op_id
        ))
        .await,
        1
    );
    assert_eq!(raw_of(&f, r.op_id).await, raw);
}

#[tokio::test]
async fn a_nul_in_a_string_is_stored_escaped_and_the_account_goes_on() {
    let f = Fixture::new().await;
    // jsonb refuses \u0000; a payer can put one in a memo.
    let r = record_from_value(horizon_payment(json!({"memo": "a\u{0}b\\c"})), None).unwrap();
    f.handle(std::slice::from_ref(&r)).await;
    assert_eq!(raw_of(&f, r.op_id).await["memo"], "a\\x00b\\\\c");
    assert_eq!(f.cursor().await, Some(r.op_id));
}

#[tokio::test]
async fn an_operation_over_64_kib_keeps_a_marker_with_its_size() {
    let f = Fixture::new().await;
    let json = horizon_payment(json!({"padding": "x".repeat(70 << 10)}));
    let bytes = serde_json::to_vec(&json).unwrap().len();
    let r = record_from_value(json, None).unwrap();
    f.handle(std::slice::from_ref(&r)).await;
    assert_eq!(
        raw_of(&f, r.op_id).await,
        json!({"omitted": "over 64 KiB", "bytes": bytes})
    );
}

#[tokio::test]
async fn a_contract_transfer_past_int64_keeps_its_i128_amount_asset_and_sender() {
    let f = Fixture::new().await;
    let amount = i128::from(i64::MAX) * 1000 + 7;
    let sender = Address::Contract(ContractId::from_bytes([5; 32]));
    let r = record(
        1,
        1,
        Memo::None,
        Operation::ContractTransfers {
            changes: vec![BalanceChange {
                change_type: "transfer".into(),
                from: Some(sender),
                to: Some(merchant()),
                asset: usdc(9),
                amount: ContractAmount::from_stroops(amount).unwrap(),
                destination_muxed_id: Some(15),
            }],
        },
    );
    f.handle(std::slice::from_ref(&r)).await;
    assert_eq!(
        f.count(&format!(
            "SELECT count(*) FROM unmatched_payments WHERE op_id = {} AND reason = 'unsupported_operation'
               AND amount = {amount} AND asset = '{}' AND from_address = '{sender}' AND muxed_id = 15",
            r.op_id,
            usdc(9)
        ))
        .await,
        1
    );
    assert_eq!(f.cursor().await, Some(r.op_id));
}
