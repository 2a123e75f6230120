//! SSE framing over real HTTP on loopback, read as raw bytes.

mod common;

use std::time::Duration;

use common::*;
use orbitpay_core::Asset;
use orbitpay_horizon_sim::{Op, RouteKind, Tx, units};

const PREAMBLE: &str = "retry: 1000\nevent: open\ndata: \"hello\"\n\n";
const GOODBYE: &str = "retry: 10\nevent: close\ndata: \"byebye\"\n\n";

#[tokio::test]
async fn preamble_limit_and_close_framing() {
    let w = world(fast_config(1)).await;
    let resp = sse_get(&w.payments_url(&w.shop, "limit=3"), None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let r = read_body(resp, Duration::from_secs(5)).await;
    assert!(!r.error && !r.timed_out, "{r:?}");
    assert!(r.text.starts_with(PREAMBLE), "{}", r.text);
    assert!(r.text.ends_with(GOODBYE), "{}", r.text);
    let evs = events(&r.text);
    let data = data_events(&evs);
    assert_eq!(data.len(), 3);
    // Each data event is exactly `id: <token>\ndata: <one-line JSON>\n\n`, the id equal to the
    // record's paging token.
    let body = &r.text[PREAMBLE.len()..r.text.len() - GOODBYE.len()];
    for raw in body.split_terminator("\n\n") {
        let lines: Vec<&str> = raw.split('\n').collect();
        assert_eq!(lines.len(), 2, "{raw:?}");
        let id = lines[0].strip_prefix("id: ").unwrap();
        let json: serde_json::Value =
            serde_json::from_str(lines[1].strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(json["paging_token"], id);
        assert_eq!(json["id"], id);
    }
    // Tokens ascend.
    let ids: Vec<i64> = data
        .iter()
        .map(|e| e.id.as_ref().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|p| p[0] < p[1]));
    w.server.shutdown().await;
}

#[tokio::test]
async fn default_limit_is_ten_and_quiet_stream_says_byebye_at_timeout() {
    let w = world(fast_config(2)).await;
    // More than 10 records exist for the shop? Add some so the default limit bites.
    let txs: Vec<Tx> = (0..12)
        .map(|_| Tx::new(w.payer).op(Op::payment(w.payer, w.shop, Asset::Native, units(1))))
        .collect();
    w.sim.close_ledger(txs);
    let r = read_body(
        sse_get(&w.payments_url(&w.shop, ""), None).await,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(data_events(&events(&r.text)).len(), 10);
    assert!(r.text.ends_with(GOODBYE));

    // A quiet stream: hello, nothing, byebye after the connection timeout; no heartbeats.
    let start = std::time::Instant::now();
    let r = read_body(
        sse_get(&w.payments_url(&w.shop, "cursor=now"), None).await,
        Duration::from_secs(5),
    )
    .await;
    let took = start.elapsed();
    assert_eq!(r.text, format!("{PREAMBLE}{GOODBYE}"));
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(4),
        "{took:?}"
    );
    w.server.shutdown().await;
}

#[tokio::test]
async fn live_records_are_pushed_while_open() {
    let w = world(fast_config(3)).await;
    w.sim.set_stream_timeout(Duration::from_secs(3));
    let resp = sse_get(&w.payments_url(&w.shop, "cursor=now&limit=2"), None).await;
    let sim = w.sim.clone();
    let (shop, payer) = (w.shop, w.payer);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sim.close_ledger(vec![Tx::new(payer).op(Op::payment(
            payer,
            shop,
            Asset::Native,
            units(3),
        ))]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        sim.close_ledger(vec![Tx::new(payer).op(Op::payment(
            payer,
            shop,
            Asset::Native,
            units(4),
        ))]);
    });
    let r = read_body(resp, Duration::from_secs(5)).await;
    let evs = events(&r.text);
    let data = data_events(&evs);
    assert_eq!(data.len(), 2, "{}", r.text);
    let amounts: Vec<String> = data
        .iter()
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.data).unwrap()["amount"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(amounts, ["3.0000000", "4.0000000"]);
    // Ended by the limit, well before the 3 s timeout.
    assert!(
        r.last_byte_at < Duration::from_secs(2),
        "{:?}",
        r.last_byte_at
    );
    assert!(r.text.ends_with(GOODBYE));
    w.server.shutdown().await;
}

#[tokio::test]
async fn last_event_id_overrides_cursor_and_both_mean_strictly_after() {
    let w = world(fast_config(4)).await;
    let (_, all) = {
        let (s, p) = get_json(&w.payments_url(&w.shop, "limit=200")).await;
        (s, p["_embedded"]["records"].as_array().unwrap().clone())
    };
    let tok = |i: usize| all[i]["paging_token"].as_str().unwrap().to_owned();
    // cursor says "after #0", Last-Event-ID says "after #2": the header wins.
    let url = w.payments_url(&w.shop, &format!("cursor={}&limit=1", tok(0)));
    let r = read_body(sse_get(&url, Some(&tok(2))).await, Duration::from_secs(5)).await;
    let evs = events(&r.text);
    let data = data_events(&evs);
    assert_eq!(data[0].id.as_deref(), Some(tok(3).as_str()));
    // cursor alone: strictly after.
    let r = read_body(sse_get(&url, None).await, Duration::from_secs(5)).await;
    assert_eq!(
        data_events(&events(&r.text))[0].id.as_deref(),
        Some(tok(1).as_str())
    );
    // The sim recorded the header of each stream request.
    assert_eq!(w.sim.stream_last_event_ids(), vec![Some(tok(2)), None]);
    assert_eq!(w.sim.request_count(RouteKind::AccountPaymentsStream), 2);
    // Last-Event-ID works on REST too (Horizon reads it in getCursor).
    let resp = client()
        .get(w.payments_url(&w.shop, "limit=1"))
        .header("Last-Event-ID", tok(2))
        .send()
        .await
        .unwrap();
    let page: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(
        page["_embedded"]["records"][0]["paging_token"],
        tok(3).as_str()
    );
    w.server.shutdown().await;
}

#[tokio::test]
async fn cursor_now_gives_only_later_records() {
    let w = world(fast_config(5)).await;
    let before = w.sim.latest_ledger();
    let resp = sse_get(&w.payments_url(&w.shop, "cursor=now&limit=1"), None).await;
    w.sim.close_ledger(vec![Tx::new(w.payer).op(Op::payment(
        w.payer,
        w.shop,
        Asset::Native,
        units(8),
    ))]);
    let r = read_body(resp, Duration::from_secs(5)).await;
    let evs = events(&r.text);
    let data = data_events(&evs);
    assert_eq!(data.len(), 1);
    let tok: i64 = data[0].id.as_ref().unwrap().parse().unwrap();
    assert_eq!(tok >> 32, i64::from(before + 1));
    // REST with cursor=now: an empty page.
    let (_, page) = get_json(&w.payments_url(&w.shop, "cursor=now")).await;
    assert_eq!(page["_embedded"]["records"].as_array().unwrap().len(), 0);
    w.server.shutdown().await;
}

#[tokio::test]
async fn errors_before_the_preamble_are_problem_json() {
    let w = world(fast_config(6)).await;
    let stranger = orbitpay_horizon_sim::derive_account(12345, 0);
    let resp = sse_get(&w.payments_url(&stranger, ""), None).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.headers()["content-type"],
        "application/problem+json; charset=utf-8"
    );
    let p: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(p["type"], "https://stellar.org/horizon-errors/not_found");
    let resp = sse_get(&w.payments_url(&w.shop, "limit=201"), None).await;
    assert_eq!(resp.status(), 400);
    w.server.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let w = world(fast_config(7)).await;
    w.sim.set_stream_timeout(Duration::from_secs(60));
    let resp = sse_get(&w.payments_url(&w.shop, "cursor=now"), None).await;
    let reader = tokio::spawn(read_body(resp, Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = std::time::Instant::now();
    w.server.shutdown().await;
    assert!(start.elapsed() < Duration::from_secs(3));
    let r = reader.await.unwrap();
    assert!(!r.timed_out);
    assert!(r.text.starts_with(PREAMBLE));
}
