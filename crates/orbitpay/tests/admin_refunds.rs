//! `/v1/refunds` over the real socket, a real database and the simulated ledger: payments are
//! credited by the real matcher (a client report, or reconciliation's path for unmatched
//! money), the refund reads the destination and the merchant account on the simulator's
//! `GET /accounts/{id}`, and the envelope it prepares is judged by the official Python SDK.

mod admin_support;
mod refunds_support;
#[path = "../../orbitpay-core/tests/stellar_sdk_support/mod.rs"]
mod stellar_sdk_support;

use admin_support::*;
use orbitpay_cli::exit;
use orbitpay_core::{Address, Asset, MuxedAccount};
use orbitpay_horizon_sim::{Fault, RouteKind, derive_account, stroops};
use refunds_support::*;
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test]
async fn an_unmatched_payment_is_refunded_whole_to_its_payer_with_memo_return() {
    let e = env(41).await;
    let (id, hash) = e.unmatched(e.payer, Asset::Native, 50_000_000).await;
    let refund = e.created("r1", json!({"unmatched_id": id})).await;
    assert_eq!(refund["status"], "awaiting_signature");
    assert_eq!(refund["unmatched_id"], id);
    assert_eq!(refund["amount"], "5.0000000");
    assert_eq!(refund["asset"], "native");
    assert_eq!(refund["destination"], e.payer.to_string());
    assert_eq!(refund["method"], "payment");
    assert_eq!(refund["memo"], json!({"type": "return", "value": hash}));
    assert_eq!(refund["sequence"], (e.shop_sequence() + 1).to_string());
    let op = judged(&refund, &e.shop, memo_return(&hash));
    assert_eq!(
        op,
        json!({"type": "payment", "destination": e.payer.to_string(), "asset": "native",
               "amount": 50_000_000, "source": null})
    );
    // Valid for refunds.valid_for (1h) from the database's now.
    let left = unix(&refund["valid_until"]) as i64 - chrono::Utc::now().timestamp();
    assert!((3500..=3700).contains(&left), "{left}");
    // Written with its event.
    assert_eq!(
        e.h.db
            .count("SELECT count(*) FROM outbox_events WHERE event_type = 'refund.created'")
            .await,
        1
    );
    let shown = body_json(
        &e.h.get(&format!("/v1/refunds/{}", refund["id"].as_str().unwrap()))
            .await,
    );
    assert_eq!(shown, refund);
}

#[tokio::test]
async fn the_overpaid_part_of_a_session_goes_back_to_the_payer_that_paid_it() {
    let e = env(42).await;
    let (session, hash) = e
        .paid_session("s1", "10", "native", Address::Account(e.payer), 125_000_000)
        .await;
    let refund = e.created("r1", json!({"session_id": session})).await;
    assert_eq!(refund["session_id"], session.as_str());
    assert_eq!(refund["amount"], "2.5000000", "12.5 paid for 10");
    assert_eq!(refund["destination"], e.payer.to_string());
    let op = judged(&refund, &e.shop, memo_return(&hash));
    assert_eq!(op["amount"], 25_000_000);
    // Nothing overpaid is left: a second default refund has nothing to take.
    assert_error(
        &e.refund("r2", json!({"session_id": session})).await,
        422,
        "REFUND_NOTHING_TO_REFUND",
    );
}

#[tokio::test]
async fn a_partial_refund_leaves_the_rest_and_never_more_than_was_received() {
    let e = env(43).await;
    let (session, _) = e
        .paid_session("s1", "10", "native", Address::Account(e.payer), 100_000_000)
        .await;
    // Paid exactly: no overpaid part by default, but the merchant may give part back.
    assert_error(
        &e.refund("r0", json!({"session_id": session})).await,
        422,
        "REFUND_NOTHING_TO_REFUND",
    );
    let first = e
        .created("r1", json!({"session_id": session, "amount": "4"}))
        .await;
    assert_eq!(first["amount"], "4.0000000");
    assert_error(
        &e.refund("r2", json!({"session_id": session, "amount": "6.0000001"}))
            .await,
        409,
        "REFUND_EXCEEDS_REFUNDABLE",
    );
    e.created("r3", json!({"session_id": session, "amount": "6"}))
        .await;
    assert_error(
        &e.refund("r4", json!({"session_id": session, "amount": "0.0000001"}))
            .await,
        409,
        "REFUND_EXCEEDS_REFUNDABLE",
    );
}

#[tokio::test]
async fn two_concurrent_refunds_of_one_source_let_only_one_through() {
    let e = env(44).await;
    let (id, _) = e.unmatched(e.payer, Asset::Native, 50_000_000).await;
    for round in 0..3 {
        let (ka, kb) = (format!("a{round}"), format!("b{round}"));
        let (a, b) = tokio::join!(
            e.refund(&ka, json!({"unmatched_id": id, "amount": "3"})),
            e.refund(&kb, json!({"unmatched_id": id, "amount": "3"})),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(statuses, [201, 409], "round {round}");
        let loser = if a.status == 409 { &a } else { &b };
        assert_error(loser, 409, "REFUND_EXCEEDS_REFUNDABLE");
        // Give the 3 back for the next round.
        let winner = body_json(if a.status == 201 { &a } else { &b });
        let r =
            e.h.post(
                &format!("/v1/refunds/{}/cancel", winner["id"].as_str().unwrap()),
                None,
                "",
            )
            .await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(
        e.h.db
            .count("SELECT count(*) FROM refunds WHERE status <> 'canceled'")
            .await,
        0
    );
    assert_eq!(e.h.db.count("SELECT count(*) FROM refunds").await, 3);
}

#[tokio::test]
async fn a_destination_that_is_not_on_the_ledger_is_refused() {
    let e = env(45).await;
    let (id, _) = e.unmatched(e.payer, Asset::Native, 50_000_000).await;
    let stranger = derive_account(45, 77);
    assert_error(
        &e.refund(
            "r1",
            json!({"unmatched_id": id, "destination": stranger.to_string()}),
        )
        .await,
        422,
        "REFUND_DESTINATION_MISSING",
    );
    // The payer merged its account away since.
    e.sim.remove_account(e.payer);
    assert_error(
        &e.refund("r2", json!({"unmatched_id": id})).await,
        422,
        "REFUND_DESTINATION_MISSING",
    );
    assert_eq!(e.h.db.count("SELECT count(*) FROM refunds").await, 0);
}

#[tokio::test]
async fn no_trustline_is_refused_unless_a_claimable_balance_is_asked_for() {
    let e = env(46).await;
    let (id, hash) = e.unmatched(e.payer, usdc(), 20_000_000).await;
    assert_error(
        &e.refund("r1", json!({"unmatched_id": id})).await,
        422,
        "REFUND_DESTINATION_CANNOT_RECEIVE",
    );
    // A full trustline has no room either.
    e.sim
        .set_trustline(e.payer, usdc(), stroops(10), Some(stroops(10)));
    assert_error(
        &e.refund("r2", json!({"unmatched_id": id})).await,
        422,
        "REFUND_DESTINATION_CANNOT_RECEIVE",
    );
    let refund = e
        .created(
            "r3",
            json!({"unmatched_id": id, "method": "claimable_balance"}),
        )
        .await;
    assert_eq!(refund["method"], "claimable_balance");
    let op = judged(&refund, &e.shop, memo_return(&hash));
    assert_eq!(
        op,
        json!({"type": "create_claimable_balance", "asset": USDC, "amount": 20_000_000,
               "claimants": [{"destination": e.payer.to_string(),
                              "predicate": "CLAIM_PREDICATE_UNCONDITIONAL"}],
               "source": null})
    );
}

#[tokio::test]
async fn a_payer_with_room_on_its_trustline_is_paid_back_directly() {
    let e = env(47).await;
    e.sim
        .set_trustline(e.payer, usdc(), stroops(0), Some(stroops(100_000_000)));
    let (id, _) = e.unmatched(e.payer, usdc(), 20_000_000).await;
    let refund = e.created("r1", json!({"unmatched_id": id})).await;
    assert_eq!(refund["method"], "payment");
    assert_eq!(refund["asset"], USDC);
}

#[tokio::test]
async fn a_muxed_payer_is_refunded_at_its_m_address() {
    let e = env(48).await;
    let muxed = MuxedAccount::new(e.payer, 7_000_000_000_000_000_001);
    let (session, hash) = e
        .paid_session("s1", "10", "native", Address::Muxed(muxed), 110_000_000)
        .await;
    let refund = e.created("r1", json!({"session_id": session})).await;
    assert_eq!(refund["destination"], muxed.to_string());
    let op = judged(&refund, &e.shop, memo_return(&hash));
    assert_eq!(op["destination"], muxed.to_string());
    assert_eq!(op["amount"], 10_000_000);
}

#[tokio::test]
async fn a_contract_payer_is_not_refundable_yet_but_a_destination_override_is() {
    let e = env(49).await;
    let (id, _) = e.unmatched(e.payer, Asset::Native, 50_000_000).await;
    // What a SAC transfer from a contract leaves: a C sender.
    let contract = orbitpay_core::ContractId::from_bytes([3; 32]).to_string();
    e.h.db
        .exec(&format!(
            "UPDATE unmatched_payments SET from_address = '{contract}' WHERE id = {id}"
        ))
        .await;
    assert_error(
        &e.refund("r1", json!({"unmatched_id": id})).await,
        422,
        "REFUND_UNSUPPORTED_SOURCE",
    );
    assert_error(
        &e.refund("r2", json!({"unmatched_id": id, "destination": contract}))
            .await,
        422,
        "REFUND_INVALID_DESTINATION",
    );
    // The exchange case: the customer's deposit address and memo.
    let refund = e
        .created(
            "r3",
            json!({"unmatched_id": id, "destination": e.payer.to_string(),
                   "memo": {"type": "id", "value": "18446744073709551615"}}),
        )
        .await;
    assert_eq!(
        refund["memo"],
        json!({"type": "id", "value": "18446744073709551615"})
    );
    let op = judged(
        &refund,
        &e.shop,
        json!({"type": "id", "id": "18446744073709551615"}),
    );
    assert_eq!(op["destination"], e.payer.to_string());
}

#[tokio::test]
async fn a_stale_envelope_is_prepared_again_on_the_account_as_it_stands() {
    let e = env(50).await;
    let (id, hash) = e.unmatched(e.payer, Asset::Native, 50_000_000).await;
    let refund = e.created("r1", json!({"unmatched_id": id})).await;
    let rid = refund["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/refunds/{rid}/prepare");
    let prepare = || e.h.post(&path, None, "");

    // Still good: the same envelope.
    let same = prepare().await;
    assert_eq!(same.status, 200);
    assert_eq!(body_json(&same)["envelope_xdr"], refund["envelope_xdr"]);

    // The shop sent another transaction first: the envelope's sequence is used up.
    e.shop_sends_something();
    let fresh = body_json(&prepare().await);
    assert_eq!(fresh["sequence"], (e.shop_sequence() + 1).to_string());
    assert_ne!(fresh["sequence"], refund["sequence"]);
    assert_ne!(fresh["envelope_xdr"], refund["envelope_xdr"]);
    let op = judged(&fresh, &e.shop, memo_return(&hash));
    assert_eq!(op["amount"], 50_000_000);

    // Its time bounds ran out (by the database's clock): new ones, the same sequence.
    e.h.db
        .exec("UPDATE refunds SET valid_until = now() - interval '1 second'")
        .await;
    let renewed = body_json(&prepare().await);
    assert_eq!(renewed["sequence"], fresh["sequence"]);
    assert!(unix(&renewed["valid_until"]) > chrono::Utc::now().timestamp() as u64 + 3000);
    assert_ne!(renewed["envelope_xdr"], fresh["envelope_xdr"]);
}

#[tokio::test]
async fn a_repeat_with_the_same_key_is_the_same_refund() {
    let e = env(51).await;
    let (id, _) = e.unmatched(e.payer, Asset::Native, 50_000_000).await;
    let body = json!({"unmatched_id": id, "amount": "1"});
    let first = e.created("k", body.clone()).await;
    let again = e.refund("k", body).await;
    assert_eq!(again.status, 200);
    assert_eq!(body_json(&again), first);
    assert_eq!(e.h.db.count("SELECT count(*) FROM refunds").await, 1);
    assert_error(
        &e.refund("k", json!({"unmatched_id": id, "amount": "2"}))
            .await,
        422,
        "IDEMPOTENCY_KEY_REUSED",
    );
    assert_error(
        &e.h.post(
            "/v1/refunds",
            None,
            &json!({"unmatched_id": id}).to_string(),
        )
        .await,
        400,
        "IDEMPOTENCY_KEY_REQUIRED",
    );
}

#[tokio::test]
async fn a_canceled_refund_gives_its_amount_back_and_cannot_be_prepared() {
    let e = env(52).await;
    let (id, _) = e.unmatched(e.payer, Asset::Native, 50_000_000).await;
    let refund = e.created("r1", json!({"unmatched_id": id})).await;
    let rid = refund["id"].as_str().unwrap();
    assert_error(
        &e.refund("r2", json!({"unmatched_id": id, "amount": "5"}))
            .await,
        409,
        "REFUND_EXCEEDS_REFUNDABLE",
    );
    assert_error(
        &e.refund("r2b", json!({"unmatched_id": id})).await,
        422,
        "REFUND_NOTHING_TO_REFUND",
    );
    let canceled =
        e.h.post(&format!("/v1/refunds/{rid}/cancel"), None, "")
            .await;
    assert_eq!(canceled.status, 200);
    let canceled = body_json(&canceled);
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(canceled["sep7_uri"], Value::Null);
    for action in ["cancel", "prepare"] {
        assert_error(
            &e.h.post(&format!("/v1/refunds/{rid}/{action}"), None, "")
                .await,
            409,
            "REFUND_NOT_AWAITING_SIGNATURE",
        );
    }
    e.created("r3", json!({"unmatched_id": id})).await;
    assert_eq!(
        e.h.db
            .count("SELECT count(*) FROM outbox_events WHERE event_type = 'refund.canceled'")
            .await,
        1
    );
}

#[tokio::test]
async fn requests_that_name_nothing_to_refund_are_refused_with_a_code() {
    let e = env(53).await;
    let (id, _) = e.unmatched(e.payer, Asset::Native, 50_000_000).await;
    for (n, (body, status, code)) in [
        (json!({}), 422, "REFUND_SOURCE_REQUIRED"),
        (
            json!({"unmatched_id": id, "session_id": Uuid::now_v7()}),
            422,
            "REFUND_SOURCE_REQUIRED",
        ),
        (json!({"unmatched_id": id + 1000}), 404, "NOT_FOUND"),
        (
            json!({"session_id": Uuid::now_v7()}),
            404,
            "SESSION_NOT_FOUND",
        ),
        (
            json!({"unmatched_id": id, "amount": "0"}),
            400,
            "INVALID_AMOUNT",
        ),
        (
            json!({"unmatched_id": id, "destination": "GABC"}),
            422,
            "REFUND_INVALID_DESTINATION",
        ),
        (
            json!({"unmatched_id": id, "memo": {"type": "text", "value": "x".repeat(29)}}),
            422,
            "REFUND_INVALID_MEMO",
        ),
        (
            json!({"unmatched_id": id, "method": "carrier_pigeon"}),
            400,
            "ERROR_BAD_JSON",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        // A key per request: a 404 is stored with its key, as any answer about the request.
        assert_error(
            &e.refund(&format!("k{n}"), body.clone()).await,
            status,
            code,
        );
    }
    let r = e.h.get(&format!("/v1/refunds/{}", Uuid::now_v7())).await;
    assert_error(&r, 404, "NOT_FOUND");
    assert_error(&e.h.get("/v1/refunds/not-a-uuid").await, 404, "NOT_FOUND");
}

#[tokio::test]
async fn horizon_down_is_a_503_with_retry_after_and_changes_nothing() {
    let e = env(54).await;
    let (id, _) = e.unmatched(e.payer, Asset::Native, 50_000_000).await;
    e.sim
        .inject_times(RouteKind::Account, Fault::Status5xx(503), 100);
    let r = e.refund("r1", json!({"unmatched_id": id})).await;
    assert_error(&r, 503, "LEDGER_UNAVAILABLE");
    assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
    assert_eq!(e.h.db.count("SELECT count(*) FROM refunds").await, 0);
    e.sim.clear_faults();
    // The key was released: the retry runs again and prepares it.
    e.created("r1", json!({"unmatched_id": id})).await;
}

#[tokio::test]
async fn the_cli_creates_lists_shows_prepares_and_cancels_with_a_qr_code() {
    let e = env(55).await;
    let (id, _) = e.unmatched(e.payer, Asset::Native, 50_000_000).await;
    let (code, out, err) = cli(
        &e.h,
        &format!("refunds create --unmatched {id} --amount 2 --idempotency-key c1 --qr"),
    )
    .await;
    assert_eq!(code, exit::OK, "{err}");
    assert!(out.contains("awaiting_signature"), "{out}");
    assert!(out.contains("web+stellar:tx?xdr="), "{out}");
    // The QR code: rows of block characters.
    assert!(
        out.lines().filter(|l| l.contains('█')).count() > 10,
        "{out}"
    );

    let (code, out, err) = cli(&e.h, "refunds list --json").await;
    assert_eq!(code, exit::OK, "{err}");
    let page: Value = serde_json::from_str(&out).unwrap();
    let rid = page["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(page["data"][0]["amount"], "2.0000000");

    let (code, out, _) = cli(&e.h, "refunds list").await;
    assert_eq!(code, exit::OK);
    assert!(out.contains(&rid) && out.contains("2.0000000"), "{out}");

    let (code, out, _) = cli(&e.h, &format!("refunds show {rid}")).await;
    assert_eq!(code, exit::OK);
    assert!(out.contains(&e.payer.to_string()), "{out}");
    assert!(!out.contains('█'), "no QR code without --qr: {out}");

    let (code, out, _) = cli(&e.h, &format!("refunds prepare {rid} --qr")).await;
    assert_eq!(code, exit::OK);
    assert!(out.contains('█'), "{out}");

    let (code, out, _) = cli(&e.h, &format!("refunds cancel {rid}")).await;
    assert_eq!(code, exit::OK);
    assert!(out.contains("canceled"), "{out}");
    let (code, _, err) = cli(&e.h, &format!("refunds cancel {rid}")).await;
    assert_eq!(code, exit::API_ERROR);
    assert!(err.contains("REFUND_NOT_AWAITING_SIGNATURE"), "{err}");
}

#[tokio::test]
async fn an_envelope_that_landed_is_not_prepared_again() {
    let e = env(56).await;
    let (id, _) = e.unmatched(e.payer, Asset::Native, 50_000_000).await;
    let refund = e.created("r1", json!({"unmatched_id": id})).await;
    let rid = refund["id"].as_str().unwrap();
    // The merchant signed and sent it: the shop's sequence moved on, by this very envelope.
    e.shop_sends_something();
    let hash = orbitpay_core::envelope_hash(
        refund["envelope_xdr"].as_str().unwrap(),
        stellar_sdk_support::TESTNET,
    )
    .unwrap();
    e.ledger.landed.lock().unwrap().push(hash);
    assert_error(
        &e.h.post(&format!("/v1/refunds/{rid}/prepare"), None, "")
            .await,
        409,
        "REFUND_ENVELOPE_LANDED",
    );
    let shown = body_json(&e.h.get(&format!("/v1/refunds/{rid}")).await);
    assert_eq!(
        shown["envelope_xdr"], refund["envelope_xdr"],
        "kept as it landed"
    );
}
