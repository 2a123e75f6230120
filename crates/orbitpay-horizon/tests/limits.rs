//! Horizon's limits and redirects: requests are paced from Horizon's rate-limit headers before
//! a 429 comes, every REST call shares one budget, `Retry-After` is honoured in both of its
//! forms, and a redirect to another origin is an error, never data to credit.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use mockito::Matcher;
use orbitpay_core::{Asset, TxHash};
use orbitpay_horizon::{Follower, HorizonSource, LedgerSource, SourceError, TxLookup};
use orbitpay_horizon_sim::{HorizonSim, Op, RateLimit, SimConfig, Tx, derive_account, stroops};
use tokio_util::sync::CancellationToken;

const START: u32 = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_under_a_tight_limit_finishes_without_a_429_storm_and_loses_nothing() {
    let sim = HorizonSim::new(SimConfig {
        seed: 41,
        start_ledger: START,
        stream_timeout: Duration::from_millis(800),
        ..SimConfig::default()
    });
    let shop = derive_account(41, 0);
    let payer = derive_account(41, 1);
    sim.register_account(shop);
    let mut expected = Vec::new();
    for _ in 0..40 {
        let tx = Tx::new(payer)
            .ops((1..=5).map(|i| Op::payment(payer, shop, Asset::Native, stroops(i))));
        let closed = sim.close_ledger(vec![tx.clone()]);
        expected.extend(closed.txs[0].payment_op_ids(&tx));
    }
    // 40 pages of 5 plus the root checks, against a bucket of 10 refilling at 20 a second:
    // unpaced, everything past the first 10 requests would be refused.
    sim.set_rate_limit(Some(RateLimit {
        burst: 10,
        per_second: 20.0,
    }));
    let server = sim.serve("127.0.0.1:0").await.unwrap();
    let mut cfg = fast_config(server.base_url());
    cfg.follow.page_limit = 5;
    let sink = TestSink::default();
    let source: Arc<dyn LedgerSource> = Arc::new(HorizonSource::new(cfg.clone()).unwrap());
    let follower = Follower::new(
        shop,
        source,
        sink.clone(),
        cfg.follow.clone(),
        Some(orbitpay_core::toid::encode(START - 1, 0, 0)),
    );
    let cancel = CancellationToken::new();
    let task = tokio::spawn(follower.run(cancel.clone()));

    wait_until(Duration::from_secs(30), "all 200 records", || {
        sink.op_ids().len() >= expected.len()
    })
    .await;
    cancel.cancel();
    let _ = task.await;
    assert_eq!(sink.op_ids(), expected, "every record once, in order");
    assert!(
        sim.rate_limited_count() == 0,
        "{} requests were refused with 429",
        sim.rate_limited_count()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let mut s = mockito::Server::new_async().await;
    let at = SystemTime::now() + Duration::from_secs(3);
    let _m = s
        .mock("GET", payments_path().as_str())
        .match_query(Matcher::Any)
        .with_status(429)
        .with_header("content-type", "application/problem+json")
        .with_header("retry-after", &httpdate::fmt_http_date(at))
        .with_body(r#"{"type":"x/rate_limit_exceeded","title":"Rate Limit Exceeded","status":429}"#)
        .create_async()
        .await;
    let source = HorizonSource::new(fast_config(&s.url())).unwrap();
    match source.payments_page(&watched(), 0, 10).await {
        Err(SourceError::RateLimited {
            retry_after: Some(d),
        }) => assert!(
            d > Duration::from_secs(1) && d <= Duration::from_secs(3),
            "{d:?}"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_429_on_paging_holds_back_transaction_lookups_too() {
    let mut s = mockito::Server::new_async().await;
    let _page = s
        .mock("GET", payments_path().as_str())
        .match_query(Matcher::Any)
        .with_status(429)
        .with_header("content-type", "application/problem+json")
        .with_header("retry-after", "1")
        .with_body(r#"{"type":"x/rate_limit_exceeded","title":"Rate Limit Exceeded","status":429}"#)
        .create_async()
        .await;
    let hash: TxHash = format!("{:064x}", 7).parse().unwrap();
    let lookup = s
        .mock("GET", format!("/transactions/{hash}").as_str())
        .with_status(404)
        .with_header("content-type", "application/problem+json")
        .with_body(r#"{"type":"https://stellar.org/horizon-errors/not_found","title":"Resource Missing","status":404}"#)
        .expect(1)
        .create_async()
        .await;
    let source = HorizonSource::new(fast_config(&s.url())).unwrap();
    assert!(matches!(
        source.payments_page(&watched(), 0, 10).await,
        Err(SourceError::RateLimited { .. })
    ));
    let started = Instant::now();
    assert_eq!(source.lookup_transaction(&hash).await, TxLookup::NotFound);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the lookup went out {:?} after the 429",
        started.elapsed()
    );
    lookup.assert_async().await;
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_an_error_and_its_data_is_never_read() {
    let mut elsewhere = mockito::Server::new_async().await;
    let foreign = elsewhere
        .mock("GET", payments_path().as_str())
        .match_query(Matcher::Any)
        .with_header("content-type", "application/hal+json")
        .with_body(page_json(vec![payment_json(tok(START, 1), 10_000_000)]))
        .expect(0)
        .create_async()
        .await;
    let mut s = mockito::Server::new_async().await;
    let _redirect = s
        .mock("GET", payments_path().as_str())
        .match_query(Matcher::Any)
        .with_status(302)
        .with_header(
            "location",
            &format!("{}{}?cursor=0", elsewhere.url(), payments_path()),
        )
        .create_async()
        .await;
    let source = HorizonSource::new(fast_config(&s.url())).unwrap();
    match source.payments_page(&watched(), 0, 10).await {
        Err(SourceError::Redirect { status, location }) => {
            assert_eq!(status, 302);
            assert!(location.starts_with(&elsewhere.url()), "{location}");
        }
        other => panic!("{other:?}"),
    }
    foreign.assert_async().await;
}

#[tokio::test]
async fn a_redirect_within_horizons_own_origin_is_followed() {
    let mut s = mockito::Server::new_async().await;
    let _moved = s
        .mock("GET", format!("/old{}", payments_path()).as_str())
        .match_query(Matcher::Any)
        .with_status(301)
        .with_header("location", &format!("{}?cursor=0", payments_path()))
        .create_async()
        .await;
    let _page = s
        .mock("GET", payments_path().as_str())
        .match_query(Matcher::Any)
        .with_header("content-type", "application/hal+json")
        .with_body(page_json(vec![payment_json(tok(START, 1), 10_000_000)]))
        .create_async()
        .await;
    let source = HorizonSource::new(fast_config(&format!("{}/old/", s.url()))).unwrap();
    let page = source.payments_page(&watched(), 0, 10).await.unwrap();
    assert_eq!(page.records.len(), 1);
}
