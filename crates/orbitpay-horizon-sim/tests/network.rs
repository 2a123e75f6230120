//! The network-wide `GET /payments`, REST and SSE, held against an account's own payments.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use orbitpay_core::{AccountId, Asset};
use orbitpay_horizon_sim::{
    Fault, NetworkTraffic, Op, RateLimit, RouteKind, Tx, derive_account, units,
};

const GOODBYE: &str = "retry: 10\nevent: close\ndata: \"byebye\"\n\n";

fn network_url(w: &World, query: &str) -> String {
    w.url(&format!("/payments?{query}"))
}

/// The accounts a record's operation takes part in, as Horizon's participants: its source and
/// whoever it pays.
fn participants(r: &serde_json::Value) -> HashSet<String> {
    let mut out = HashSet::new();
    for field in ["source_account", "to", "account", "into"] {
        if let Some(s) = r[field].as_str() {
            out.insert(s.to_owned());
        }
    }
    for change in r["asset_balance_changes"].as_array().into_iter().flatten() {
        if let Some(s) = change["to"].as_str() {
            out.insert(s.to_owned());
        }
    }
    out
}

fn tokens(records: &[serde_json::Value]) -> Vec<i64> {
    records
        .iter()
        .map(|r| r["paging_token"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn the_network_list_filtered_to_an_account_is_that_accounts_list() {
    let w = world(fast_config(40)).await;
    let accounts = [w.shop, w.payer, w.other];
    w.sim.random_traffic(300, &accounts);
    let (network, pages) = walk(&network_url(&w, "limit=50&join=transactions")).await;
    assert!(pages >= 3);
    // Every payment operation once, ascending, failed ones hidden by default.
    let toks = tokens(&network);
    assert!(toks.windows(2).all(|p| p[0] < p[1]), "strictly ascending");
    let (with_failed, _) = walk(&network_url(&w, "limit=200&include_failed=true")).await;
    assert_eq!(with_failed.len(), w.sim.payment_count());
    assert!(network.len() < with_failed.len());
    for account in accounts {
        let (own, _) = walk(&w.payments_url(&account, "limit=50&join=transactions")).await;
        let g = account.to_string();
        let filtered: Vec<_> = network
            .iter()
            .filter(|r| participants(r).contains(&g))
            .cloned()
            .collect();
        assert!(!own.is_empty());
        assert_eq!(
            filtered, own,
            "{account}: same records, same order, same bytes"
        );
    }
    w.server.shutdown().await;
}

#[tokio::test]
async fn a_contract_payment_to_two_accounts_is_one_network_record_on_both_account_lists() {
    let w = world(fast_config(41)).await;
    let (a, b) = (derive_account(41, 100), derive_account(41, 101));
    let closed = w.sim.close_ledger(vec![Tx::new(w.payer).op(Op::sac_split(
        w.payer,
        Asset::Native,
        [(a, units(1)), (b, units(2))],
    ))]);
    let id = closed.txs[0].op_ids[0].to_string();
    let after = (i64::from(closed.sequence) << 32) - 1;
    let (network, _) = walk(&network_url(&w, &format!("cursor={after}&limit=200"))).await;
    assert_eq!(tokens(&network), [id.parse::<i64>().unwrap()]);
    let changes = network[0]["asset_balance_changes"].as_array().unwrap();
    let to: Vec<&str> = changes.iter().map(|c| c["to"].as_str().unwrap()).collect();
    assert_eq!(to, [a.to_string(), b.to_string()]);
    for account in [a, b] {
        let (own, _) = walk(&w.payments_url(&account, "limit=200")).await;
        assert_eq!(own, network, "{account}");
    }
    w.server.shutdown().await;
}

#[tokio::test]
async fn the_network_page_has_links_headers_limits_and_faults_as_an_account_page() {
    let w = world(fast_config(42)).await;
    let resp = client()
        .get(network_url(&w, "limit=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["latest-ledger"].to_str().unwrap(),
        w.sim.latest_ledger().to_string()
    );
    let page: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    let records = page["_embedded"]["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    let next = page["_links"]["next"]["href"].as_str().unwrap();
    let last = records[1]["paging_token"].as_str().unwrap();
    assert!(
        next.contains("/payments?") && next.contains(&format!("cursor={last}")),
        "{next}"
    );
    assert!(!next.contains("/accounts/"), "{next}");

    let (status, problem) = get_json(&network_url(&w, "limit=201")).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["extras"]["invalid_field"], "limit");
    let (status, _) = get_json(&network_url(&w, "join=ledgers")).await;
    assert_eq!(status, 400);

    w.sim.inject_for(RouteKind::Payments, Fault::Status5xx(503));
    let (status, _) = get_json(&network_url(&w, "")).await;
    assert_eq!(status, 503);
    assert_eq!(w.sim.requests_for(RouteKind::Payments).len(), 4);

    w.sim.set_rate_limit(Some(RateLimit {
        burst: 1,
        per_second: 0.001,
    }));
    let ok = client().get(network_url(&w, "")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-ratelimit-remaining"], "0");
    let limited = client().get(network_url(&w, "")).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    // Streams skip the limiter, as on Horizon.
    let stream = sse_get(&network_url(&w, "limit=1"), None).await;
    assert_eq!(stream.status(), 200);
    w.server.shutdown().await;
}

/// Reads one network stream to its end.
async fn stream_ids(url: &str, last_event_id: Option<&str>) -> (Vec<String>, String) {
    let r = read_body(sse_get(url, last_event_id).await, Duration::from_secs(10)).await;
    assert!(!r.error && !r.timed_out, "{r:?}");
    let ids = data_events(&events(&r.text))
        .iter()
        .map(|e| e.id.clone().unwrap())
        .collect();
    (ids, r.text)
}

#[tokio::test]
async fn the_network_stream_ends_after_limit_events_and_resumes_by_last_event_id() {
    let w = world(fast_config(43)).await;
    w.sim.random_traffic(120, &[w.shop]);
    let (rest, _) = walk(&network_url(&w, "limit=200")).await;
    let want: Vec<String> = tokens(&rest).iter().map(i64::to_string).collect();
    assert!(want.len() > 40);

    let url = network_url(&w, "cursor=0&limit=7");
    let (first, text) = stream_ids(&url, None).await;
    assert_eq!(first, want[..7]);
    assert!(text.ends_with(GOODBYE), "{text}");
    // Resuming with the last id seen, again and again, delivers everything once, in order.
    let mut got = first;
    while got.len() < want.len() {
        let (more, _) = stream_ids(&url, got.last().map(String::as_str)).await;
        assert!(!more.is_empty());
        got.extend(more);
    }
    assert_eq!(got, want);
    let ids = w.sim.stream_last_event_ids();
    assert_eq!(ids[0], None);
    assert_eq!(ids[1].as_deref(), Some(want[6].as_str()));
    assert_eq!(w.sim.request_count(RouteKind::PaymentsStream), ids.len());
    w.server.shutdown().await;
}

#[tokio::test]
async fn a_quiet_network_stream_says_byebye_at_the_connection_timeout() {
    let w = world(fast_config(44)).await;
    let start = std::time::Instant::now();
    let (ids, text) = stream_ids(&network_url(&w, "cursor=now"), None).await;
    let took = start.elapsed();
    assert!(ids.is_empty());
    assert!(
        text.ends_with(GOODBYE) && !text.contains(": ping"),
        "{text}"
    );
    // fast_config's connection timeout is 1.5 s.
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(4),
        "{took:?}"
    );
    w.server.shutdown().await;
}

#[tokio::test]
async fn live_network_traffic_reaches_the_stream_and_one_percent_pays_the_watched() {
    let w = world(fast_config(45)).await;
    w.sim.set_stream_timeout(Duration::from_secs(5));
    let watched: Vec<AccountId> = (0..10).map(|i| derive_account(45, 1000 + i)).collect();
    let before = w.sim.latest_ledger();
    let resp = sse_get(&network_url(&w, "cursor=now&limit=25"), None).await;
    let traffic = w.sim.start_network_traffic(NetworkTraffic {
        payments_per_second: 200,
        watched: watched.clone(),
        ledger_interval: Duration::from_millis(100),
        ..NetworkTraffic::default()
    });
    let r = read_body(resp, Duration::from_secs(5)).await;
    assert_eq!(data_events(&events(&r.text)).len(), 25, "{}", r.text);
    assert!(r.text.ends_with(GOODBYE));
    traffic.stop();
    let latest = w.sim.latest_ledger();
    assert!(latest > before);

    // 20 payments a ledger at 200/s and 100 ms; close 500 ledgers' worth by hand: 1% to the
    // watched accounts, the rest between strangers.
    let from = (i64::from(latest + 1) << 32) - 1;
    for _ in 0..50 {
        w.sim.close_network_ledger(200, &watched, 10);
    }
    let (records, _) = walk(&network_url(&w, &format!("cursor={from}&limit=200"))).await;
    assert_eq!(records.len(), 10_000);
    let watched: HashSet<String> = watched.iter().map(ToString::to_string).collect();
    let to_watched = records
        .iter()
        .filter(|r| watched.contains(r["to"].as_str().unwrap()))
        .count();
    assert!((60..=140).contains(&to_watched), "{to_watched} of 10000");
    w.server.shutdown().await;
}
