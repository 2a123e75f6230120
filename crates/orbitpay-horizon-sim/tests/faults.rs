//! Each fault behaves as documented, on streams and on REST.

mod common;

use std::time::Duration;

use common::*;
use orbitpay_horizon_sim::{Fault, RouteKind};

const PREAMBLE: &str = "retry: 1000\nevent: open\ndata: \"hello\"\n\n";
const GOODBYE: &str = "retry: 10\nevent: close\ndata: \"byebye\"\n\n";

#[tokio::test]
async fn stall_keeps_the_socket_open_and_silent() {
    let w = world(fast_config(30)).await;
    w.sim
        .inject_for(RouteKind::AccountPaymentsStream, Fault::Stall);
    let r = read_body(
        sse_get(&w.payments_url(&w.shop, ""), None).await,
        Duration::from_secs(3),
    )
    .await;
    // Past the 1.5 s connection timeout: still open, nothing after the preamble.
    assert!(r.timed_out && !r.error);
    assert_eq!(r.text, PREAMBLE);
    // The fault was consumed: the next stream is normal.
    let r = read_body(
        sse_get(&w.payments_url(&w.shop, "limit=1"), None).await,
        Duration::from_secs(3),
    )
    .await;
    assert!(r.text.ends_with(GOODBYE));
    // REST stall: headers arrive, the body never does.
    w.sim.inject_for(RouteKind::AccountPayments, Fault::Stall);
    let resp = client()
        .get(w.payments_url(&w.shop, ""))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let r = read_body(resp, Duration::from_millis(700)).await;
    assert!(r.timed_out && r.text.is_empty());
    w.server.shutdown().await;
}

#[tokio::test]
async fn drop_mid_event_cuts_the_connection_inside_an_event() {
    let w = world(fast_config(31)).await;
    w.sim.inject(Fault::DropMidEvent);
    let r = read_body(
        sse_get(&w.payments_url(&w.shop, ""), None).await,
        Duration::from_secs(3),
    )
    .await;
    assert!(r.error, "the body must end with an error: {r:?}");
    assert!(r.text.starts_with(PREAMBLE));
    let rest = &r.text[PREAMBLE.len()..];
    assert!(rest.starts_with("id: "));
    assert!(!rest.contains("\n\n"), "no complete data event: {rest:?}");
    assert!(
        events(&r.text)
            .iter()
            .all(|e| e.event.as_deref() == Some("open"))
    );
    // REST: half a body, then an error.
    w.sim
        .inject_for(RouteKind::Transaction, Fault::DropMidEvent);
    let hash = &w.ledgers[0].txs[0].hash;
    let resp = client()
        .get(w.url(&format!("/transactions/{hash}")))
        .send()
        .await
        .unwrap();
    let r = read_body(resp, Duration::from_secs(3)).await;
    assert!(r.error);
    assert!(serde_json::from_str::<serde_json::Value>(&r.text).is_err());
    w.server.shutdown().await;
}

#[tokio::test]
async fn status_5xx_and_rate_limit_are_problem_json() {
    let w = world(fast_config(32)).await;
    w.sim
        .inject_for(RouteKind::AccountPaymentsStream, Fault::Status5xx(503));
    let resp = sse_get(&w.payments_url(&w.shop, ""), None).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.headers()["content-type"],
        "application/problem+json; charset=utf-8"
    );
    let p: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(
        p["type"],
        "https://stellar.org/horizon-errors/service_unavailable"
    );
    assert_eq!(p["status"], 503);

    w.sim.inject_for(
        RouteKind::Root,
        Fault::RateLimited {
            retry_after_secs: 7,
        },
    );
    let resp = client().get(w.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");
    let p: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(
        p["type"],
        "https://stellar.org/horizon-errors/rate_limit_exceeded"
    );
    // Consumed once: the next request is fine.
    let (s, _) = get_json(&w.url("/")).await;
    assert_eq!(s, 200);
    // inject_times queues several.
    w.sim
        .inject_times(RouteKind::AccountPayments, Fault::Status5xx(500), 2);
    assert_eq!(get_json(&w.payments_url(&w.shop, "")).await.0, 500);
    assert_eq!(get_json(&w.payments_url(&w.shop, "")).await.0, 500);
    assert_eq!(get_json(&w.payments_url(&w.shop, "")).await.0, 200);
    w.server.shutdown().await;
}

#[tokio::test]
async fn error_event_after_preamble_ends_the_stream() {
    let w = world(fast_config(33)).await;
    // A stream-only fault queued for any route is not consumed by a REST request.
    w.sim.inject(Fault::ErrorEvent("problem: timeout".into()));
    assert_eq!(get_json(&w.url("/")).await.0, 200);
    assert_eq!(w.sim.pending_faults(), 1);
    let r = read_body(
        sse_get(&w.payments_url(&w.shop, ""), None).await,
        Duration::from_secs(3),
    )
    .await;
    assert!(!r.error && !r.timed_out);
    assert_eq!(
        r.text,
        format!("{PREAMBLE}event: error\ndata: problem: timeout\n\n")
    );
    let reqs = w.sim.requests_for(RouteKind::AccountPaymentsStream);
    assert_eq!(
        reqs[0].fault,
        Some(Fault::ErrorEvent("problem: timeout".into()))
    );
    w.server.shutdown().await;
}

#[tokio::test]
async fn malformed_data_line_keeps_a_valid_id() {
    let w = world(fast_config(34)).await;
    w.sim
        .inject_for(RouteKind::AccountPaymentsStream, Fault::MalformedDataLine);
    let r = read_body(
        sse_get(&w.payments_url(&w.shop, "limit=3"), None).await,
        Duration::from_secs(3),
    )
    .await;
    let evs = events(&r.text);
    let data = data_events(&evs);
    assert_eq!(data.len(), 3);
    assert!(data[0].id.as_ref().unwrap().parse::<i64>().is_ok());
    assert!(serde_json::from_str::<serde_json::Value>(&data[0].data).is_err());
    for e in &data[1..] {
        let v: serde_json::Value = serde_json::from_str(&e.data).unwrap();
        assert_eq!(v["paging_token"].as_str(), e.id.as_deref());
    }
    assert!(r.text.ends_with(GOODBYE));
    // REST: status 200 with a truncated body.
    w.sim.inject_for(RouteKind::Root, Fault::MalformedDataLine);
    let resp = client().get(w.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(serde_json::from_str::<serde_json::Value>(&resp.text().await.unwrap()).is_err());
    w.server.shutdown().await;
}

#[tokio::test]
async fn slow_drip_dribbles_bytes() {
    let w = world(fast_config(35)).await;
    w.sim.inject_for(
        RouteKind::AccountPaymentsStream,
        Fault::SlowDrip {
            chunk_bytes: 8,
            interval: Duration::from_millis(20),
        },
    );
    let r = read_body(
        sse_get(&w.payments_url(&w.shop, "cursor=now"), None).await,
        Duration::from_secs(5),
    )
    .await;
    // Same bytes as a normal quiet stream, in many small chunks.
    assert_eq!(r.text, format!("{PREAMBLE}{GOODBYE}"));
    assert!(
        r.chunks >= (PREAMBLE.len() + GOODBYE.len()) / 8 - 1,
        "{} chunks",
        r.chunks
    );
    w.sim.inject_for(
        RouteKind::Root,
        Fault::SlowDrip {
            chunk_bytes: 64,
            interval: Duration::from_millis(5),
        },
    );
    let start = std::time::Instant::now();
    let (s, root) = get_json(&w.url("/")).await;
    assert_eq!(s, 200);
    assert!(root["history_latest_ledger"].is_number());
    assert!(start.elapsed() >= Duration::from_millis(100));
    w.server.shutdown().await;
}

#[tokio::test]
async fn delay_postpones_the_answer() {
    let w = world(fast_config(36)).await;
    w.sim.inject(Fault::Delay(Duration::from_millis(300)));
    let start = std::time::Instant::now();
    assert_eq!(get_json(&w.url("/")).await.0, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
    w.server.shutdown().await;
}

#[tokio::test]
async fn request_log_records_routes_and_headers() {
    let w = world(fast_config(37)).await;
    client()
        .get(w.payments_url(&w.shop, "cursor=5&limit=2"))
        .header("X-Test", "yes")
        .send()
        .await
        .unwrap();
    get_json(&w.url("/nope")).await;
    let reqs = w.sim.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].kind, RouteKind::AccountPayments);
    assert_eq!(reqs[0].query_param("cursor").as_deref(), Some("5"));
    assert_eq!(reqs[0].header("x-test"), Some("yes"));
    assert_eq!(reqs[1].kind, RouteKind::Other);
    assert_eq!(w.sim.request_count(RouteKind::Other), 1);
    w.sim.clear_requests();
    assert!(w.sim.requests().is_empty());
    w.server.shutdown().await;
}

#[tokio::test]
async fn a_record_skipped_in_streams_is_still_on_rest_pages() {
    let w = world(fast_config(32)).await;
    let (all, _) = walk(&w.payments_url(&w.shop, "order=asc&limit=200")).await;
    assert!(all.len() >= 3);
    let skipped: i64 = all[1]["paging_token"].as_str().unwrap().parse().unwrap();
    w.sim.skip_in_streams(skipped);
    let r = read_body(
        sse_get(&w.payments_url(&w.shop, "limit=200"), None).await,
        Duration::from_secs(3),
    )
    .await;
    let ids: Vec<String> = data_events(&events(&r.text))
        .iter()
        .filter_map(|e| e.id.clone())
        .collect();
    assert_eq!(ids.len(), all.len() - 1);
    assert!(!ids.contains(&skipped.to_string()));
    // Reconnecting from before it does not bring it back either.
    let before = all[0]["paging_token"].as_str().unwrap().to_owned();
    let r = read_body(
        sse_get(&w.payments_url(&w.shop, "limit=200"), Some(&before)).await,
        Duration::from_secs(3),
    )
    .await;
    assert!(!r.text.contains(&format!("id: {skipped}\n")));
    let (again, _) = walk(&w.payments_url(&w.shop, "order=asc&limit=200")).await;
    assert_eq!(again.len(), all.len());
    w.server.shutdown().await;
}

#[tokio::test]
async fn a_failing_transaction_lookup_answers_its_status_until_healed() {
    let w = world(fast_config(33)).await;
    let hash = w.ledgers[0].txs[0].hash.clone();
    let other = w.ledgers[0].txs.last().unwrap().hash.clone();
    w.sim.fail_transaction_lookups(&hash, 503);
    for _ in 0..3 {
        let (status, body) = get_json(&w.url(&format!("/transactions/{hash}"))).await;
        assert_eq!(status, 503, "{body}");
        let (status, _) = get_json(&w.url(&format!("/transactions/{hash}/payments"))).await;
        assert_eq!(status, 503);
    }
    if other != hash {
        assert_eq!(
            get_json(&w.url(&format!("/transactions/{other}"))).await.0,
            200
        );
    }
    w.sim.heal_transaction_lookups(&hash);
    assert_eq!(
        get_json(&w.url(&format!("/transactions/{hash}"))).await.0,
        200
    );
    w.server.shutdown().await;
}

fn data_ids(text: &str) -> Vec<i64> {
    data_events(&events(text))
        .iter()
        .map(|e| e.id.as_ref().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn a_stream_event_limit_says_byebye_after_that_many_events() {
    let w = world(fast_config(40)).await;
    let read = |query: &'static str, last: Option<String>| {
        let url = w.payments_url(&w.shop, query);
        async move { read_body(sse_get(&url, last.as_deref()).await, Duration::from_secs(5)).await }
    };
    w.sim.set_stream_event_limit(Some(2));
    let r = read("", None).await;
    assert!(!r.error && !r.timed_out, "{r:?}");
    assert!(r.text.ends_with(GOODBYE), "{}", r.text);
    let first = data_ids(&r.text);
    assert_eq!(first.len(), 2, "{}", r.text);
    // A smaller request limit still wins.
    assert_eq!(data_ids(&read("limit=1", None).await.text).len(), 1);
    // A reconnect from the last event goes on with the next two, and says byebye again.
    let r = read("", Some(first[1].to_string())).await;
    assert!(r.text.ends_with(GOODBYE));
    let next = data_ids(&r.text);
    assert_eq!(next.len(), 2, "{}", r.text);
    assert!(next[0] > first[1]);
    // Lifted: the request's limit (10 by default) again.
    w.sim.set_stream_event_limit(None);
    assert!(data_ids(&read("", None).await.text).len() > 2);
    w.server.shutdown().await;
}

#[tokio::test]
async fn redirect_answers_307_to_another_origin_on_rest_and_streams() {
    let w = world(fast_config(41)).await;
    let elsewhere = "http://127.0.0.2:9/horizon";
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = w.payments_url(&w.shop, "");
    w.sim.inject_for(
        RouteKind::AccountPayments,
        Fault::Redirect(elsewhere.into()),
    );
    w.sim.inject_for(
        RouteKind::AccountPaymentsStream,
        Fault::Redirect(elsewhere.into()),
    );
    for stream in [false, true] {
        let mut req = no_follow.get(&url);
        if stream {
            req = req.header("Accept", "text/event-stream");
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 307, "stream: {stream}");
        assert_eq!(resp.headers()["location"], elsewhere);
        assert!(resp.bytes().await.unwrap().is_empty());
    }
    // Each was consumed by one request: the next is served.
    assert_eq!(no_follow.get(&url).send().await.unwrap().status(), 200);
    let logged: Vec<_> = w.sim.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(
        logged,
        [
            Some(Fault::Redirect(elsewhere.into())),
            Some(Fault::Redirect(elsewhere.into())),
            None
        ]
    );
    w.server.shutdown().await;
}
