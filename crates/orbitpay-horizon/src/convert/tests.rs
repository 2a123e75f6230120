use super::*;
use serde_json::json;

const G_FROM: &str = "GC5LF63GRVIT5ZXXCXLPI3RX2YXKJQFZVBSAO6AUELN3YIMSWPD6Z6FH";
const G_TO: &str = "GA5ZPIVPAXEG5LMHTKF4PJZ52K5YFUUBSHL746TINKJ7GNMG4KYF3S4R";
const M_TO: &str = "MA5ZPIVPAXEG5LMHTKF4PJZ52K5YFUUBSHL746TINKJ7GNMG4KYF2AAACOBCKABHCTRYY";
const M_ID: u64 = 21_449_687_443_220;
const HASH: &str = "d5b3b11e39b9450a79645de31a2503c45b9cfe1567b81f52b4a212afd834492e";
const TOKEN: i64 = 225_257_527_003_537_409;

fn payment() -> Value {
    json!({
        "id": TOKEN.to_string(),
        "paging_token": TOKEN.to_string(),
        "transaction_successful": true,
        "type": "payment",
        "transaction_hash": HASH,
        "asset_type": "native",
        "from": G_FROM,
        "to": G_TO,
        "amount": "12.5000000",
        "transaction": {
            "hash": HASH,
            "ledger": toid::ledger(TOKEN),
            "successful": true,
            "memo_type": "none"
        }
    })
}

fn convert(v: Value) -> LedgerRecord {
    record_from_value(v, None).expect("readable record")
}

fn unsupported_reason(r: &LedgerRecord) -> &str {
    match &r.operation {
        Operation::Unsupported { reason, .. } => reason,
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn a_plain_payment_converts() {
    let r = convert(payment());
    assert_eq!(r.op_id, TOKEN);
    assert_eq!(r.ledger, toid::ledger(TOKEN));
    assert!(r.successful);
    assert_eq!(r.memo, Memo::None);
    assert_eq!(
        r.operation,
        Operation::Transfer {
            kind: TransferKind::Payment,
            from: Address::Account(G_FROM.parse().unwrap()),
            to: Address::Account(G_TO.parse().unwrap()),
            asset: Asset::Native,
            amount: Amount::from_stroops(125_000_000).unwrap(),
        }
    );
}

#[test]
fn muxed_destination_combines_g_and_decimal_id_and_cross_checks_m() {
    let mut v = payment();
    v["to_muxed"] = json!(M_TO);
    v["to_muxed_id"] = json!(M_ID.to_string());
    let r = convert(v.clone());
    let Operation::Transfer { to, .. } = r.operation else {
        panic!()
    };
    assert_eq!(
        to,
        Address::Muxed(MuxedAccount::new(G_TO.parse().unwrap(), M_ID))
    );

    // u64 beyond i64.
    let mut big = payment();
    big["to_muxed_id"] = json!(u64::MAX.to_string());
    let Operation::Transfer { to, .. } = convert(big).operation else {
        panic!()
    };
    assert_eq!(to.muxed_id(), Some(u64::MAX));

    for bad in ["+1", "-1", "1.0", "18446744073709551616", "", " 1"] {
        let mut w = payment();
        w["to_muxed_id"] = json!(bad);
        assert!(
            unsupported_reason(&convert(w)).contains("to_muxed_id"),
            "{bad}"
        );
    }
    let mut num = payment();
    num["to_muxed_id"] = json!(5);
    unsupported_reason(&convert(num));

    let mut disagree = v;
    disagree["to_muxed_id"] = json!("7");
    assert!(unsupported_reason(&convert(disagree)).contains("disagrees"));
}

#[test]
fn path_payments_credit_the_destination_amount_never_source_amount() {
    let mut v = payment();
    v["type"] = json!("path_payment_strict_send");
    v["source_amount"] = json!("999.0000000");
    v["source_asset_type"] = json!("native");
    let Operation::Transfer { kind, amount, .. } = convert(v).operation else {
        panic!()
    };
    assert_eq!(kind, TransferKind::PathPaymentStrictSend);
    assert_eq!(amount.stroops(), 125_000_000);
}

#[test]
fn bad_amounts_and_assets_become_unsupported() {
    for bad in [
        "1e5",
        "1_000.0",
        "-1.0",
        "1.00000001",
        "922337203685.4775808",
        "",
        "0x10",
    ] {
        let mut v = payment();
        v["amount"] = json!(bad);
        assert!(unsupported_reason(&convert(v)).contains("amount"), "{bad}");
    }
    let mut v = payment();
    v["amount"] = json!(12.5);
    unsupported_reason(&convert(v));
    let mut v = payment();
    v["asset_type"] = json!("credit_alphanum4");
    unsupported_reason(&convert(v));
    let mut v = payment();
    v.as_object_mut().unwrap().remove("to");
    assert!(unsupported_reason(&convert(v)).contains("to"));
}

#[test]
fn unknown_types_are_unsupported_not_errors() {
    let mut v = payment();
    v["type"] = json!("manage_data");
    let r = convert(v);
    assert_eq!(r.operation.type_name(), "manage_data");
    assert!(unsupported_reason(&r).contains("not handled"));
}

#[test]
fn memos_come_from_the_transaction_and_text_from_memo_bytes() {
    let with_memo = |memo_type: &str, memo: Option<&str>, bytes: Option<&str>| {
        let mut v = payment();
        v["transaction"]["memo_type"] = json!(memo_type);
        if let Some(m) = memo {
            v["transaction"]["memo"] = json!(m);
        }
        if let Some(b) = bytes {
            v["transaction"]["memo_bytes"] = json!(b);
        }
        convert(v)
    };
    // Invalid UTF-8 and a NUL survive through memo_bytes; `memo` is Horizon's scrubbed form.
    let raw = [b'4', 0xff, 0x00, b'2'];
    let r = with_memo("text", Some("4\u{fffd}2"), Some(&STANDARD.encode(raw)));
    assert_eq!(r.memo, Memo::text(raw.to_vec()).unwrap());
    // Text without memo_bytes is never read from the lossy `memo`.
    assert!(unsupported_reason(&with_memo("text", Some("42"), None)).contains("memo_bytes"));
    assert!(
        unsupported_reason(&with_memo("text", None, Some(&STANDARD.encode([b'a'; 29]))))
            .contains("28")
    );

    assert_eq!(
        with_memo("id", Some("18446744073709551615"), None).memo,
        Memo::Id(u64::MAX)
    );
    unsupported_reason(&with_memo("id", Some("+5"), None));
    unsupported_reason(&with_memo("id", Some("18446744073709551616"), None));

    let h = [7u8; 32];
    assert_eq!(
        with_memo("hash", Some(&STANDARD.encode(h)), None).memo,
        Memo::Hash(h)
    );
    assert_eq!(
        with_memo("return", Some(&STANDARD.encode(h)), None).memo,
        Memo::Return(h)
    );
    unsupported_reason(&with_memo("hash", Some(&STANDARD.encode([1u8; 31])), None));
    // Hex is not Horizon's encoding of a hash memo.
    unsupported_reason(&with_memo("hash", Some(&hex_of(&h)), None));
    unsupported_reason(&with_memo("bogus", None, None));
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn the_embedded_transaction_must_be_the_operations_own() {
    let mut v = payment();
    v["transaction"]["ledger"] = json!(1);
    assert!(unsupported_reason(&convert(v)).contains("ledger"));
    let mut v = payment();
    v["transaction"]["hash"] = json!("00".repeat(32));
    unsupported_reason(&convert(v));
    let mut v = payment();
    v["transaction"]["successful"] = json!(false);
    unsupported_reason(&convert(v));
    let mut v = payment();
    v.as_object_mut().unwrap().remove("transaction");
    let r = convert(v);
    assert!(unsupported_reason(&r).contains("join=transactions"));
    // Unknown memo: kept loud (successful as Horizon said), never silently a failed tx.
    assert!(r.successful);
}

#[test]
fn a_failed_transaction_stays_failed() {
    let mut v = payment();
    v["transaction_successful"] = json!(false);
    v["transaction"]["successful"] = json!(false);
    assert!(!convert(v).successful);
}

#[test]
fn records_without_token_or_hash_are_errors_carrying_the_sse_id() {
    let e = record_from_json("{\"type\":\"payment\"", Some(42)).unwrap_err();
    assert_eq!(e.paging_token, Some(42));
    assert!(e.reason.contains("not JSON"));

    let mut v = payment();
    v.as_object_mut().unwrap().remove("paging_token");
    let e = record_from_value(v, Some(43)).unwrap_err();
    assert_eq!(e.paging_token, Some(43));

    let mut v = payment();
    v["transaction_hash"] = json!("nothex");
    let e = record_from_value(v, None).unwrap_err();
    assert_eq!(e.paging_token, Some(TOKEN));

    assert!(record_from_json("[1,2]", None).is_err());
    assert!(record_from_json("", None).is_err());
    let huge = "x".repeat(10_000);
    let e = record_from_json(&huge, None).unwrap_err();
    assert!(e.excerpt().len() <= 200);
    assert_eq!(
        (e.raw, e.raw_truncated, e.reads),
        (huge.into_bytes(), false, 1)
    );
    let bigger = "y".repeat(MAX_RAW_BYTES + 1);
    let e = record_from_json(&bigger, Some(7)).unwrap_err();
    assert_eq!((e.raw.len(), e.raw_truncated), (MAX_RAW_BYTES, true));
}

#[test]
fn tokens_parse_strictly() {
    assert_eq!(parse_token("12884905985"), Some(12_884_905_985));
    for bad in ["", "0", "-1", "+1", "1e3", "9223372036854775808", " 1"] {
        assert_eq!(parse_token(bad), None, "{bad}");
    }
}

#[test]
fn contract_transfer_to_a_contract_keeps_the_contract() {
    let c = orbitpay_core::ContractId::from_bytes([9; 32]).to_string();
    let mut v = payment();
    v["type"] = json!("invoke_host_function");
    v["asset_balance_changes"] = json!([{
        "asset_type": "native", "type": "transfer", "from": G_FROM, "to": c,
        "amount": "170141183460469231731687303715.8841105"
    }]);
    let Operation::ContractTransfers { changes } = convert(v).operation else {
        panic!()
    };
    assert!(matches!(changes[0].to, Some(Address::Contract(_))));
    assert_eq!(
        changes[0].amount.stroops(),
        1_701_411_834_604_692_317_316_873_037_158_841_105
    );
}

#[test]
fn quoted_source_strings_are_escaped_for_text_columns() {
    let mut v = payment();
    v["type"] = json!("pay\u{0}ment");
    let r = convert(v);
    let Operation::Unsupported { op_type, reason } = &r.operation else {
        panic!("{r:?}")
    };
    assert_eq!(op_type, "pay\\x00ment");
    assert!(!reason.contains('\0'), "{reason}");

    let mut v = payment();
    v["id"] = json!("1\u{0}");
    assert!(!unsupported_reason(&convert(v)).contains('\0'));
}

/// Horizon's `create_claimable_balance` operation record (the shape of
/// `protocols/horizon/operations.CreateClaimableBalance`: `asset` as one string, `claimants`
/// with their predicates).
fn claimable_balance() -> Value {
    let mut v = payment();
    let o = v.as_object_mut().unwrap();
    for k in ["asset_type", "from", "to"] {
        o.remove(k);
    }
    o.insert("type".into(), json!("create_claimable_balance"));
    o.insert("type_i".into(), json!(14));
    o.insert("source_account".into(), json!(G_FROM));
    o.insert("asset".into(), json!(format!("USDC:{G_FROM}")));
    o.insert(
        "claimants".into(),
        json!([{"destination": G_TO, "predicate": {"unconditional": true}}]),
    );
    v
}

#[test]
fn a_claimable_balance_creation_converts_with_its_claimants() {
    let r = convert(claimable_balance());
    assert_eq!(
        r.operation,
        Operation::CreateClaimableBalance {
            source: Address::Account(G_FROM.parse().unwrap()),
            asset: format!("USDC:{G_FROM}").parse().unwrap(),
            amount: Amount::from_stroops(125_000_000).unwrap(),
            claimants: vec![G_TO.parse().unwrap()],
        }
    );
    let mut no_claimants = claimable_balance();
    no_claimants.as_object_mut().unwrap().remove("claimants");
    assert_eq!(
        unsupported_reason(&convert(no_claimants)),
        "missing claimants"
    );
}
