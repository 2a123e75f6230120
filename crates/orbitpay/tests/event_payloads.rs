//! The `data` of every event the store writes, as a merchant's webhook receives it (before
//! the `session` snapshot the outbox adds): each type's fields and their JSON types. This is
//! the contract of docs/webhooks.md: a field may be added, never dropped, renamed or retyped.

mod jobs_support;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use jobs_support::Env;
use orbitpay::jobs::recovery::{RecoverySettings, recover_stuck_sessions};
use orbitpay_core::{Asset, MuxedAccount, TxHash};
use orbitpay_horizon::FetchedRecord;
use orbitpay_horizon_sim::{Op, Tx, stroops};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

fn shape(payload: &Value) -> Vec<String> {
    let mut fields: Vec<String> = payload
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "session")
        .map(|(k, v)| {
            let kind = match v {
                Value::Null => "null",
                Value::Bool(_) => "bool",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            format!("{k}:{kind}")
        })
        .collect();
    fields.sort();
    fields
}

async fn stream(env: &Env, hash: TxHash) {
    let fetched: Vec<FetchedRecord> = env.records_of(hash).await;
    let up_to = fetched.last().unwrap().as_ref().unwrap().op_id;
    env.matcher
        .handle(&env.shop, &fetched, up_to)
        .await
        .unwrap();
}

#[tokio::test]
async fn every_event_type_keeps_its_fields_and_their_types() {
    let env = Env::new().await;
    // Short, then processing and partially paid.
    env.session(1, 100).await;
    stream(&env, env.pay(1, 40)).await;
    // Paid and overpaid by one transaction, then a late payment.
    env.session(2, 100).await;
    let to = MuxedAccount::new(env.shop, 2);
    let closed = env.sim.close_ledger(vec![
        Tx::new(env.payer)
            .op(Op::payment(env.payer, to, Asset::Native, stroops(100)))
            .op(Op::payment(env.payer, to, Asset::Native, stroops(10))),
    ]);
    stream(&env, TxHash::from_str(&closed.txs[0].hash).unwrap()).await;
    stream(&env, env.pay(2, 5)).await;
    // Money that names no session.
    stream(&env, env.pay(999, 7)).await;
    // Released and recovered.
    let s = env.session(3, 100).await;
    env.claim(&s, TxHash::from_bytes([0x5a; 32]), "6 minutes")
        .await;
    let settings = RecoverySettings {
        after: Duration::from_secs(300),
        batch: 10,
    };
    recover_stuck_sessions(&env.matcher, &settings, &CancellationToken::new())
        .await
        .unwrap();
    // Cancelled, expired.
    let s = env.session(4, 100).await;
    orbitpay_store::sessions::cancel(&mut env.db.conn().await, s.id)
        .await
        .unwrap();
    let s = env.session(5, 100).await;
    env.exec(&format!(
        "UPDATE sessions SET expires_at = now() - interval '1 minute' WHERE id = '{}'",
        s.id
    ))
    .await;
    orbitpay_store::expiry::expire_due(&mut env.db.conn().await, &env.shop, chrono::Utc::now(), 10)
        .await
        .unwrap();

    let mut shapes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (event_type, payload) in env.all_events().await {
        let shape = shape(&payload);
        let seen = shapes.entry(event_type.clone()).or_insert(shape.clone());
        assert_eq!(*seen, shape, "every {event_type} has one shape");
    }
    let session = |extra: &[&str]| {
        let mut fields: Vec<String> = [
            "account:string",
            "amount:string",
            "amount_received:string",
            "asset:string",
            "order_id:null",
            "overpaid:bool",
            "reference:string",
            "session_id:string",
            "status:string",
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
        fields.sort();
        fields
    };
    let state = |extra: &[&str]| {
        let mut fields: Vec<String> = [
            "account:string",
            "amount:string",
            "amount_received:string",
            "asset:string",
            "expires_at:string",
            "metadata:object",
            "order_id:null",
            "reference:string",
            "session_id:string",
            "status:string",
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
        fields.sort();
        fields
    };
    let credit = [
        "credited:string",
        "ledger:number",
        "op_id:string",
        "tx_hash:string",
    ];
    let unmatched = |session: &str, amount: &str| {
        let mut fields: Vec<String> = [
            "account:string",
            "asset:string",
            "ledger:number",
            "op_id:string",
            "reason:string",
            "tx_hash:string",
            session,
            amount,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        fields.sort();
        fields
    };
    let expected: BTreeMap<String, Vec<String>> = [
        (
            "payment.unmatched",
            unmatched("session_id:null", "amount:string"),
        ),
        ("session.cancelled", state(&[])),
        ("session.expired", state(&[])),
        (
            "session.late_payment",
            unmatched("session_id:string", "amount:string"),
        ),
        ("session.overpaid", session(&credit)),
        ("session.paid", session(&credit)),
        ("session.partially_paid", session(&credit)),
        (
            "session.processing",
            session(&["claim_source:string", "tx_hash:string"]),
        ),
        (
            "session.recovered",
            state(&[
                "action:string",
                "claim_age_seconds:number",
                "claim_source:string",
                "tx_hash:string",
            ]),
        ),
        (
            "session.released",
            session(&["reason:string", "tx_hash:string"]),
        ),
    ]
    .into_iter()
    .map(|(t, f)| (t.to_owned(), f))
    .collect();
    assert_eq!(shapes, expected);
}
