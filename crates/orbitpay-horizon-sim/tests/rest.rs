//! REST behaviour: paging, validation, participants, transactions, effects, retention, reset.

mod common;

use std::collections::HashSet;

use common::*;
use orbitpay_horizon_sim::{RouteKind, SimConfig, derive_account};

#[tokio::test]
async fn paging_walks_everything_without_gap_or_repeat_and_ends_empty() {
    let w = world(fast_config(10)).await;
    let accounts = [w.shop, w.payer, w.other];
    w.sim.random_traffic(400, &accounts);
    for account in accounts {
        let (all, _) = walk(&w.payments_url(&account, "limit=7&include_failed=true")).await;
        let (big, pages) = walk(&w.payments_url(&account, "limit=200&include_failed=true")).await;
        assert_eq!(all, big, "page size must not change the sequence");
        assert!(pages >= 2);
        let toks: Vec<i64> = all
            .iter()
            .map(|r| r["paging_token"].as_str().unwrap().parse().unwrap())
            .collect();
        assert!(toks.windows(2).all(|p| p[0] < p[1]), "strictly ascending");
        let uniq: HashSet<_> = toks.iter().collect();
        assert_eq!(uniq.len(), toks.len());
        // Descending walk gives the same set reversed.
        let (desc, _) =
            walk(&w.payments_url(&account, "limit=13&order=desc&include_failed=true")).await;
        let mut rev = desc.clone();
        rev.reverse();
        assert_eq!(rev, all);
        // Every record names the account as a participant.
        let g = account.to_string();
        for r in &all {
            let s = r.to_string();
            assert!(s.contains(&g), "{account} not in {s}");
        }
    }
    w.server.shutdown().await;
}

#[tokio::test]
async fn empty_page_keeps_next_link_and_cursor() {
    let w = world(fast_config(11)).await;
    let (_, all) = get_json(&w.payments_url(&w.shop, "limit=200")).await;
    let last = all["_embedded"]["records"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["paging_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, page) = get_json(&w.payments_url(&w.shop, &format!("cursor={last}"))).await;
    assert_eq!(status, 200);
    assert_eq!(page["_embedded"]["records"], serde_json::json!([]));
    let next = page["_links"]["next"]["href"].as_str().unwrap();
    assert!(next.contains(&format!("cursor={last}")), "{next}");
    assert!(next.contains("order=asc") && next.contains("limit=10"));
    assert!(
        page["_links"]["prev"]["href"]
            .as_str()
            .unwrap()
            .contains("order=desc")
    );
    w.server.shutdown().await;
}

#[tokio::test]
async fn limit_and_parameter_validation() {
    let w = world(fast_config(12)).await;
    for (q, field) in [
        ("limit=201", "limit"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("cursor=-5", "cursor"),
        ("cursor=xyz", "cursor"),
        ("order=up", "order"),
        ("join=ledgers", "join"),
        ("include_failed=maybe", "include_failed"),
    ] {
        let resp = client()
            .get(w.payments_url(&w.shop, q))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{q}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/problem+json; charset=utf-8"
        );
        let p: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        assert_eq!(p["type"], "https://stellar.org/horizon-errors/bad_request");
        assert_eq!(p["status"], 400);
        assert_eq!(p["extras"]["invalid_field"], field, "{q}");
    }
    let (_, p) = get_json(&w.payments_url(&w.shop, "limit=abc")).await;
    assert_eq!(p["extras"]["reason"], "unparseable value");
    let (s, p) = get_json(&w.payments_url(&w.shop, "limit=200")).await;
    assert_eq!(s, 200, "{p}");
    // A malformed or muxed account id is a 400, an unknown one a 404.
    let (s, p) = get_json(&w.url("/accounts/GNOPE/payments")).await;
    assert_eq!(
        (s, p["extras"]["invalid_field"].as_str()),
        (400, Some("account_id"))
    );
    let (s, _) = get_json(&w.payments_url(&derive_account(777, 7), "")).await;
    assert_eq!(s, 404);
    w.server.shutdown().await;
}

#[tokio::test]
async fn failed_transactions_only_with_include_failed() {
    let w = world(fast_config(13)).await;
    let (_, ok) = get_json(&w.payments_url(&w.shop, "limit=200")).await;
    let (_, all) = get_json(&w.payments_url(&w.shop, "limit=200&include_failed=true")).await;
    let ok = ok["_embedded"]["records"].as_array().unwrap();
    let all = all["_embedded"]["records"].as_array().unwrap();
    assert!(ok.iter().all(|r| r["transaction_successful"] == true));
    let failed: Vec<_> = all
        .iter()
        .filter(|r| r["transaction_successful"] == false)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(all.len(), ok.len() + 1);
    assert_eq!(failed[0]["type"], "path_payment_strict_receive");
    assert_eq!(failed[0]["source_amount"], "0.0000000");
    assert_eq!(failed[0]["amount"], "2386.0000000");
    w.server.shutdown().await;
}

#[tokio::test]
async fn participants_and_record_contents() {
    let w = world(fast_config(14)).await;
    let (_, page) = get_json(&w.payments_url(&w.shop, "limit=200&join=transactions")).await;
    let recs = page["_embedded"]["records"].as_array().unwrap();
    let types: Vec<&str> = recs.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "create_account",           // shop is `account`
            "payment",                  // USDC, memo id 7
            "payment",                  // muxed, text memo
            "path_payment_strict_send", // hash memo
            "account_merge",            // shop is `into`
            "invoke_host_function",     // SAC to muxed shop
            "payment",                  // outgoing (shop → payer), op index 2
            "payment",                  // self payment
            "create_account",           // shop is funder
        ]
    );
    let muxed = &recs[2];
    assert_eq!(muxed["to"], w.shop.to_string());
    assert_eq!(muxed["to_muxed_id"], u64::MAX.to_string());
    assert!(muxed["to_muxed"].as_str().unwrap().starts_with('M'));
    assert_eq!(muxed["amount"], "12.5000000");
    let tx = &muxed["transaction"];
    assert_eq!(tx["memo_type"], "text");
    assert_eq!(tx["memo"], "0,075% Daily for Holders");
    assert_eq!(tx["memo_bytes"], "MCwwNzUlIERhaWx5IGZvciBIb2xkZXJz");
    assert_eq!(recs[1]["transaction"]["memo"], "7");
    assert_eq!(recs[1]["transaction"]["memo_type"], "id");
    assert!(recs[1]["transaction"].get("memo_bytes").is_none());
    assert_eq!(recs[3]["transaction"]["memo_type"], "hash");
    assert_eq!(
        recs[3]["transaction"]["memo"],
        "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="
    );
    assert_eq!(recs[4]["transaction"]["memo_type"], "return");
    assert!(
        recs[4].get("amount").is_none(),
        "account_merge has no amount"
    );
    assert_eq!(recs[4]["into"], w.shop.to_string());
    let sac = &recs[5]["asset_balance_changes"][0];
    assert_eq!(sac["to"], w.shop.to_string());
    assert_eq!(sac["destination_muxed_id"], "123456789");
    assert_eq!(sac["amount"], "500.0000000");
    assert_eq!(sac["asset_type"], "credit_alphanum12");
    // Multi-op tx: manage_data took op index 1, so the outgoing payment is index 2.
    let tok: i64 = recs[6]["paging_token"].as_str().unwrap().parse().unwrap();
    assert_eq!(tok & 0xFFF, 2);
    assert_eq!(recs[6]["from"], w.shop.to_string());
    assert_eq!(recs[7]["from"], recs[7]["to"]);
    // Scrubbed text memo: invalid byte → U+FFFD, NUL dropped; memo_bytes exact.
    let t = &recs[6]["transaction"];
    assert_eq!(t["memo"], "a\u{FFFD}b");
    assert_eq!(t["memo_bytes"], "Yf8AYg==");
    assert_eq!(t["operation_count"], 4);
    // SAC transfer to a contract is listed for the payer with a C address as `to`.
    let (_, page) = get_json(&w.payments_url(&w.payer, "limit=200")).await;
    let to_c = page["_embedded"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "invoke_host_function")
        .any(|r| {
            r["asset_balance_changes"][0]["to"]
                .as_str()
                .unwrap()
                .starts_with('C')
        });
    assert!(to_c);
    w.server.shutdown().await;
}

#[tokio::test]
async fn transactions_endpoint() {
    let w = world(fast_config(15)).await;
    let failed = &w.ledgers[1].txs[1];
    assert!(!failed.successful);
    let (s, tx) = get_json(&w.url(&format!("/transactions/{}", failed.hash))).await;
    assert_eq!(s, 200);
    assert_eq!(tx["successful"], false);
    assert_eq!(tx["hash"], failed.hash.as_str());
    assert_eq!(tx["ledger"], failed.ledger);
    assert_eq!(tx["paging_token"], failed.paging_token.to_string());
    assert_eq!(tx["memo_type"], "none");
    assert!(tx.get("memo").is_none());
    let (s, p) = get_json(&w.url(&format!("/transactions/{}", failed.hash.to_uppercase()))).await;
    assert_eq!(s, 400);
    assert_eq!(p["extras"]["invalid_field"], "tx_id");
    let (s, p) = get_json(&w.url(&format!("/transactions/{}", "ab".repeat(32)))).await;
    assert_eq!(s, 404);
    assert_eq!(p["type"], "https://stellar.org/horizon-errors/not_found");
    // /transactions/{hash}/payments includes the failed op; a multi-op tx lists only payments.
    let (_, page) = get_json(&w.url(&format!("/transactions/{}/payments", failed.hash))).await;
    assert_eq!(page["_embedded"]["records"].as_array().unwrap().len(), 1);
    let multi = &w.ledgers[2].txs[3];
    let (_, page) = get_json(&w.url(&format!(
        "/transactions/{}/payments?join=transactions",
        multi.hash
    )))
    .await;
    let recs = page["_embedded"]["records"].as_array().unwrap();
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0]["id"], multi.op_ids[1].to_string());
    assert_eq!(recs[0]["transaction"]["hash"], multi.hash.as_str());
    w.server.shutdown().await;
}

#[tokio::test]
async fn account_merge_amount_is_in_effects() {
    let w = world(fast_config(16)).await;
    let merge = &w.ledgers[2].txs[0];
    let (s, page) = get_json(&w.url(&format!("/operations/{}/effects", merge.op_ids[0]))).await;
    assert_eq!(s, 200);
    let recs = page["_embedded"]["records"].as_array().unwrap();
    let credited: Vec<_> = recs
        .iter()
        .filter(|e| e["type"] == "account_credited")
        .collect();
    assert_eq!(credited.len(), 1);
    assert_eq!(credited[0]["account"], w.shop.to_string());
    assert_eq!(credited[0]["amount"], "100.0000000");
    assert_eq!(credited[0]["asset_type"], "native");
    assert_eq!(credited[0]["type_i"], 2);
    assert!(recs.iter().any(|e| e["type"] == "account_removed"));
    assert_eq!(w.sim.request_count(RouteKind::OperationEffects), 1);
    w.server.shutdown().await;
}

#[tokio::test]
async fn root_reports_ledgers() {
    let w = world(fast_config(17)).await;
    let (s, root) = get_json(&w.url("/")).await;
    assert_eq!(s, 200);
    assert_eq!(root["history_latest_ledger"], w.sim.latest_ledger());
    assert_eq!(root["core_latest_ledger"], w.sim.latest_ledger());
    assert_eq!(root["history_elder_ledger"], 999);
    assert_eq!(
        root["network_passphrase"],
        "Test SDF Network ; September 2015"
    );
    w.server.shutdown().await;
}

#[tokio::test]
async fn retention_window() {
    let w = world(fast_config(18)).await;
    let first_ledger = w.ledgers[0].sequence;
    w.sim.close_empty_ledgers(3);
    w.sim.set_history_elder_ledger(first_ledger + 2);
    let (_, root) = get_json(&w.url("/")).await;
    assert_eq!(root["history_elder_ledger"], first_ledger + 2);
    // Ascending from an old cursor silently starts at the oldest retained ledger.
    let (s, page) = get_json(&w.payments_url(&w.shop, "cursor=1&limit=200")).await;
    assert_eq!(s, 200);
    let recs = page["_embedded"]["records"].as_array().unwrap();
    assert!(!recs.is_empty());
    for r in recs {
        let t: i64 = r["paging_token"].as_str().unwrap().parse().unwrap();
        assert!(t >> 32 >= i64::from(first_ledger + 2));
    }
    // Descending with a cursor at or below the elder ledger: 410 before_history.
    let old = w.ledgers[0].txs[0].op_ids[0];
    let (s, p) = get_json(&w.payments_url(&w.shop, &format!("order=desc&cursor={old}"))).await;
    assert_eq!(s, 410);
    assert_eq!(
        p["type"],
        "https://stellar.org/horizon-errors/before_history"
    );
    // Transactions past retention are 404.
    let (s, _) = get_json(&w.url(&format!("/transactions/{}", w.ledgers[0].txs[0].hash))).await;
    assert_eq!(s, 404);
    w.server.shutdown().await;
}

#[tokio::test]
async fn testnet_reset_leaves_cursors_ahead_of_history() {
    let w = world(SimConfig {
        seed: 19,
        start_ledger: 50_000,
        ..SimConfig::default()
    })
    .await;
    let (_, page) = get_json(&w.payments_url(&w.shop, "limit=200")).await;
    let last = page["_embedded"]["records"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["paging_token"]
        .as_str()
        .unwrap()
        .to_owned();
    w.sim.reset_network(100);
    let (_, root) = get_json(&w.url("/")).await;
    assert_eq!(root["history_latest_ledger"], 99);
    let stored: i64 = last.parse().unwrap();
    assert!(stored >> 32 > root["history_latest_ledger"].as_i64().unwrap());
    // The old account is unknown on the new network.
    let (s, _) = get_json(&w.payments_url(&w.shop, &format!("cursor={last}"))).await;
    assert_eq!(s, 404);
    // After the account reappears, the old cursor silently yields nothing (Horizon does not
    // complain): the client must compare with history_latest_ledger itself.
    let (sim, shop, ..) = (w.sim.clone(), w.shop, ());
    sim.close_ledger(vec![orbitpay_horizon_sim::Tx::new(w.payer).op(
        orbitpay_horizon_sim::Op::payment(
            w.payer,
            shop,
            orbitpay_core::Asset::Native,
            orbitpay_horizon_sim::units(1),
        ),
    )]);
    let (s, page) = get_json(&w.payments_url(&w.shop, &format!("cursor={last}"))).await;
    assert_eq!(s, 200);
    assert_eq!(page["_embedded"]["records"].as_array().unwrap().len(), 0);
    // The new network's hashes differ from the old one's.
    let (s, _) = get_json(&w.url(&format!("/transactions/{}", w.ledgers[0].txs[0].hash))).await;
    assert_eq!(s, 404);
    w.server.shutdown().await;
}

#[tokio::test]
async fn memory_and_speed_with_ten_thousand_operations() {
    let w = world(fast_config(20)).await;
    let accounts: Vec<_> = (0..5).map(|i| derive_account(20, 100 + i)).collect();
    w.sim.random_traffic(10_000, &accounts);
    assert!(w.sim.payment_count() >= 10_000);
    let (recs, _) = walk(&w.payments_url(&accounts[0], "limit=200")).await;
    assert!(recs.len() > 1000);
    w.server.shutdown().await;
}

#[tokio::test]
async fn an_account_is_served_in_horizons_shape_and_a_missing_one_is_a_404() {
    let w = world(fast_config(12)).await;
    w.sim
        .set_trustline(w.payer, usdc(), orbitpay_horizon_sim::units(5), None);
    let (status, a) = get_json(&w.url(&format!("/accounts/{}", w.payer))).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["account_id"], w.payer.to_string());
    assert_eq!(a["id"], w.payer.to_string());
    // Horizon prints the sequence number as a string: it is an i64.
    let seq: i64 = a["sequence"].as_str().unwrap().parse().unwrap();
    assert_eq!(Some(seq), w.sim.account_sequence(&w.payer));
    let balances = a["balances"].as_array().unwrap();
    // Trustlines first (with a limit), the native balance last (without one).
    assert_eq!(balances[0]["asset_type"], "credit_alphanum4");
    assert_eq!(balances[0]["asset_code"], "USDC");
    assert_eq!(balances[0]["balance"], "5.0000000");
    assert_eq!(balances[0]["limit"], "922337203685.4775807");
    let native = balances.last().unwrap();
    assert_eq!(native["asset_type"], "native");
    assert!(native.get("limit").is_none());
    assert_eq!(a["subentry_count"], 1);

    let stranger = derive_account(12, 77);
    let (status, p) = get_json(&w.url(&format!("/accounts/{stranger}"))).await;
    assert_eq!(status, 404);
    assert_eq!(p["type"], "https://stellar.org/horizon-errors/not_found");
    w.server.shutdown().await;
}
