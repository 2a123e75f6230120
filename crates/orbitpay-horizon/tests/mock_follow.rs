//! The follower against mockito: SSE in chunks, resume headers, routine closes, rate limits,
//! server errors, error events, malformed records, catch-up paging, initialisation, retention
//! gaps, resets, sink failures and hostile responses.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use mockito::{Matcher, Mock, ServerGuard};
use orbitpay_core::toid;
use orbitpay_horizon::{
    Follower, FollowerExit, FollowerState, FollowerStatus, HaltReason, HorizonConfig,
    HorizonSource, LedgerSource, Phase, SinkError,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const T0: i64 = toid::encode(1000, 1, 1);

async fn root(server: &mut ServerGuard, elder: u32, latest: u32) -> Mock {
    server
        .mock("GET", "/")
        .match_query(Matcher::Any)
        .with_header("content-type", "application/json; charset=utf-8")
        .with_body(root_json(elder, latest))
        .create_async()
        .await
}

/// The catch-up page for `cursor`.
async fn page(server: &mut ServerGuard, cursor: i64, records: Vec<serde_json::Value>) -> Mock {
    server
        .mock("GET", payments_path().as_str())
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("order".into(), "asc".into()),
            Matcher::UrlEncoded("cursor".into(), cursor.to_string()),
            Matcher::UrlEncoded("join".into(), "transactions".into()),
        ]))
        .with_header("content-type", "application/hal+json; charset=utf-8")
        .with_body(page_json(records))
        .create_async()
        .await
}

/// A stream connection resuming after `cursor`: both `Last-Event-ID` and `cursor` asserted.
fn stream(server: &mut ServerGuard, cursor: i64) -> mockito::Mock {
    server
        .mock("GET", payments_path().as_str())
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("cursor".into(), cursor.to_string()),
            Matcher::UrlEncoded("join".into(), "transactions".into()),
        ]))
        .match_header("accept", "text/event-stream")
        .match_header("last-event-id", cursor.to_string().as_str())
}

async fn sse(server: &mut ServerGuard, cursor: i64, pieces: Vec<String>) -> Mock {
    stream(server, cursor)
        .with_header("content-type", "text/event-stream; charset=utf-8")
        .with_chunked_body(sse_writer(pieces))
        .create_async()
        .await
}

/// Once the follower is past everything scripted, further connections get hello + byebye.
async fn idle_after(server: &mut ServerGuard, cursor: i64) -> Mock {
    stream(server, cursor)
        .with_header("content-type", "text/event-stream; charset=utf-8")
        .with_chunked_body(sse_writer(vec![HELLO.into(), BYEBYE.into()]))
        // Reconnects keep coming until the test stops the follower.
        .expect_at_least(1)
        .create_async()
        .await
}

struct Running {
    sink: TestSink,
    status: Arc<FollowerStatus>,
    cancel: CancellationToken,
    task: JoinHandle<FollowerExit>,
}

impl Running {
    async fn stop(self) -> FollowerExit {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("follower stops promptly on cancel")
            .unwrap()
    }
}

fn start(cfg: HorizonConfig, stored: Option<i64>) -> Running {
    start_with(cfg, stored, TestSink::default())
}

fn start_with(cfg: HorizonConfig, stored: Option<i64>, sink: TestSink) -> Running {
    let follow = cfg.follow.clone();
    let source: Arc<dyn LedgerSource> = Arc::new(HorizonSource::new(cfg).unwrap());
    let f = Follower::new(watched(), source, sink.clone(), follow, stored);
    let status = f.status();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(f.run(cancel.clone()));
    Running {
        sink,
        status,
        cancel,
        task,
    }
}

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn streams_in_chunks_and_resumes_with_last_event_id_after_byebye_and_plain_end() {
    let mut s = mockito::Server::new_async().await;
    let (t1, t2, t3) = (tok(1001, 1), tok(1001, 2), tok(1002, 1));
    let _r = root(&mut s, 1, 5000).await;
    let p = page(&mut s, T0, vec![]).await;
    let a = sse(
        &mut s,
        T0,
        vec![HELLO.into(), sse_record(t1), sse_record(t2), BYEBYE.into()],
    )
    .await;
    // Body ends without byebye: still routine.
    let b = sse(&mut s, t2, vec![HELLO.into(), sse_record(t3)]).await;
    let _c = idle_after(&mut s, t3).await;

    let run = start(fast_config(&s.url()), Some(T0));
    wait_until(WAIT, "three records", || run.sink.op_ids().len() == 3).await;
    wait_until(WAIT, "idle reconnects", || {
        run.status.snapshot().routine_closes >= 3
    })
    .await;
    let sink = run.sink.clone();
    let status = run.status.clone();
    assert_eq!(run.stop().await, FollowerExit::Cancelled);

    assert_eq!(sink.op_ids(), vec![t1, t2, t3]);
    let batches = sink.log().batches.clone();
    assert!(
        batches
            .iter()
            .all(|b| b.phase == Phase::Live && b.records.len() == 1)
    );
    assert_eq!(
        batches.iter().map(|b| b.up_to).collect::<Vec<_>>(),
        vec![t1, t2, t3]
    );
    let snap = status.snapshot();
    assert_eq!(snap.state, FollowerState::Stopped);
    assert_eq!(snap.cursor, Some(t3));
    assert_eq!(snap.records, 3);
    assert_eq!(snap.errors, 0);
    assert_eq!(snap.last_ledger, Some(1002));
    assert!(snap.reconnects >= 2);
    p.assert_async().await;
    a.assert_async().await;
    b.assert_async().await;
}

#[tokio::test]
async fn rate_limited_stream_honours_retry_after() {
    let mut s = mockito::Server::new_async().await;
    let t1 = tok(1001, 1);
    let _r = root(&mut s, 1, 5000).await;
    let _p = page(&mut s, T0, vec![]).await;
    let limited = stream(&mut s, T0)
        .with_status(429)
        .with_header("content-type", "application/problem+json; charset=utf-8")
        .with_header("retry-after", "1")
        .with_body(r#"{"type":"https://stellar.org/horizon-errors/rate_limit_exceeded","title":"Rate Limit Exceeded","status":429,"detail":"slow down"}"#)
        .expect(1)
        .create_async()
        .await;
    let _ok = sse(
        &mut s,
        T0,
        vec![HELLO.into(), sse_record(t1), BYEBYE.into()],
    )
    .await;
    let _idle = idle_after(&mut s, t1).await;

    let started = Instant::now();
    let run = start(fast_config(&s.url()), Some(T0));
    wait_until(WAIT, "record after 429", || run.sink.op_ids() == vec![t1]).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1),
        "Retry-After ignored: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    assert_eq!(run.status.snapshot().errors, 1);
    limited.assert_async().await;
    run.stop().await;
}

#[tokio::test]
async fn server_error_then_success() {
    let mut s = mockito::Server::new_async().await;
    let t1 = tok(1001, 1);
    let _r = root(&mut s, 1, 5000).await;
    let _p = page(&mut s, T0, vec![]).await;
    let down = stream(&mut s, T0)
        .with_status(503)
        .with_header("content-type", "application/problem+json")
        .with_body(r#"{"type":"https://stellar.org/horizon-errors/service_unavailable","title":"Service Unavailable","status":503}"#)
        .expect(2)
        .create_async()
        .await;
    let _ok = sse(
        &mut s,
        T0,
        vec![HELLO.into(), sse_record(t1), BYEBYE.into()],
    )
    .await;
    let _idle = idle_after(&mut s, t1).await;

    let run = start(fast_config(&s.url()), Some(T0));
    wait_until(WAIT, "record after 503s", || run.sink.op_ids() == vec![t1]).await;
    assert_eq!(run.status.snapshot().errors, 2);
    down.assert_async().await;
    run.stop().await;
}

#[tokio::test]
async fn error_event_is_plain_text_and_leads_to_a_resumed_reconnect() {
    let mut s = mockito::Server::new_async().await;
    let (t1, t2) = (tok(1001, 1), tok(1003, 1));
    let _r = root(&mut s, 1, 5000).await;
    let _p = page(&mut s, T0, vec![]).await;
    let _a = sse(
        &mut s,
        T0,
        vec![
            HELLO.into(),
            sse_record(t1),
            "event: error\ndata: problem: timeout\n\n".into(),
        ],
    )
    .await;
    let b = sse(
        &mut s,
        t1,
        vec![HELLO.into(), sse_record(t2), BYEBYE.into()],
    )
    .await;
    let _idle = idle_after(&mut s, t2).await;

    let run = start(fast_config(&s.url()), Some(T0));
    wait_until(WAIT, "both records", || run.sink.op_ids() == vec![t1, t2]).await;
    let snap = run.status.snapshot();
    assert_eq!(snap.errors, 1);
    assert_eq!(snap.malformed, 0);
    b.assert_async().await;
    run.stop().await;
}

/// Reads of an unreadable record before it is handed over: `FollowConfig`'s default.
const READS: usize = 5;

/// The tokens of each batch the sink confirmed, `Err` records marked negative.
fn shape(sink: &TestSink) -> Vec<Vec<i64>> {
    sink.log()
        .batches
        .iter()
        .map(|b| {
            b.records
                .iter()
                .map(|r| match r {
                    Ok(r) => r.op_id,
                    Err(e) => -e.paging_token.unwrap(),
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn a_data_line_corrupted_once_is_read_again_from_the_cursor_and_credited() {
    let mut s = mockito::Server::new_async().await;
    let (t1, t2, t3) = (tok(1001, 1), tok(1001, 2), tok(1001, 3));
    let _r = root(&mut s, 1, 5000).await;
    let _p = page(&mut s, T0, vec![]).await;
    let _a = sse(
        &mut s,
        T0,
        vec![
            HELLO.into(),
            sse_record(t1),
            sse_garbage(t2),
            sse_record(t3),
            BYEBYE.into(),
        ],
    )
    .await;
    // The reconnect resumes after t1, the last record handled, and reads t2 whole.
    let again = stream(&mut s, t1)
        .with_header("content-type", "text/event-stream; charset=utf-8")
        .with_chunked_body(sse_writer(vec![
            HELLO.into(),
            sse_record(t2),
            sse_record(t3),
            BYEBYE.into(),
        ]))
        .expect(1)
        .create_async()
        .await;
    let idle = idle_after(&mut s, t3).await;

    let run = start(fast_config(&s.url()), Some(T0));
    wait_until(WAIT, "t1, t2 and t3", || run.sink.op_ids().len() >= 3).await;
    assert_eq!(run.sink.op_ids(), vec![t1, t2, t3]);
    assert_eq!(shape(&run.sink), vec![vec![t1], vec![t2], vec![t3]]);
    let snap = run.status.snapshot();
    assert_eq!((snap.records, snap.malformed), (3, 1));
    wait_until(WAIT, "resume after t3", || {
        run.status.snapshot().routine_closes >= 2
    })
    .await;
    again.assert_async().await;
    idle.assert_async().await;
    run.stop().await;
}

#[tokio::test]
async fn a_data_line_unreadable_on_every_read_is_handed_over_alone_and_passed() {
    let mut s = mockito::Server::new_async().await;
    let (t1, t2, t3) = (tok(1001, 1), tok(1001, 2), tok(1001, 3));
    let _r = root(&mut s, 1, 5000).await;
    let _p = page(&mut s, T0, vec![]).await;
    let _a = sse(
        &mut s,
        T0,
        vec![HELLO.into(), sse_record(t1), sse_garbage(t2)],
    )
    .await;
    // Every reconnect from t1 finds t2 broken again; the last read stores it and goes on.
    let again = stream(&mut s, t1)
        .with_header("content-type", "text/event-stream; charset=utf-8")
        .with_chunked_body(sse_writer(vec![
            HELLO.into(),
            sse_garbage(t2),
            sse_record(t3),
            BYEBYE.into(),
        ]))
        .expect(READS - 1)
        .create_async()
        .await;
    let idle = idle_after(&mut s, t3).await;

    let run = start(fast_config(&s.url()), Some(T0));
    wait_until(WAIT, "t3", || run.sink.op_ids().contains(&t3)).await;
    assert_eq!(shape(&run.sink), vec![vec![t1], vec![-t2], vec![t3]]);
    {
        let log = run.sink.log();
        assert_eq!(log.batches[1].up_to, t2);
        let e = log.batches[1].records[0].as_ref().unwrap_err();
        assert!(e.reason.contains("not JSON"), "{e}");
    }
    let snap = run.status.snapshot();
    assert_eq!(snap.malformed, READS as u64);
    wait_until(WAIT, "resume after t3", || {
        run.status.snapshot().routine_closes >= 2
    })
    .await;
    again.assert_async().await;
    idle.assert_async().await;
    run.stop().await;
}

#[tokio::test]
async fn catch_up_reads_an_unreadable_last_record_again_and_never_jumps_through_next() {
    let mut s = mockito::Server::new_async().await;
    let (t1, t2, t3) = (tok(1001, 1), tok(1001, 2), tok(1002, 1));
    let _r = root(&mut s, 1, 5000).await;
    // The last record lost its paging token; `_links.next` still names t2.
    let mut broken = payment_json(t2, 2);
    broken.as_object_mut().unwrap().remove("paging_token");
    let body = serde_json::json!({
        "_links": {"next": {"href": format!("http://h/accounts/{WATCHED}/payments?cursor={t2}&limit=200&order=asc")}},
        "_embedded": {"records": [payment_json(t1, 1), broken]}
    });
    let _p0 = s
        .mock("GET", payments_path().as_str())
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("order".into(), "asc".into()),
            Matcher::UrlEncoded("cursor".into(), T0.to_string()),
        ]))
        .with_header("content-type", "application/hal+json")
        .with_body(body.to_string())
        .create_async()
        .await;
    let again = page(&mut s, t1, vec![payment_json(t2, 2), payment_json(t3, 3)]).await;
    // Where a jump through `_links.next` would land.
    let _jumped = page(&mut s, t2, vec![payment_json(t3, 3)]).await;
    let _end = page(&mut s, t3, vec![]).await;
    let _idle = idle_after(&mut s, t3).await;

    let run = start(fast_config(&s.url()), Some(T0));
    wait_until(WAIT, "t3", || run.sink.op_ids().contains(&t3)).await;
    assert_eq!(run.sink.op_ids(), vec![t1, t2, t3]);
    assert_eq!(shape(&run.sink), vec![vec![t1], vec![t2, t3]]);
    again.assert_async().await;
    run.stop().await;
}

#[tokio::test]
async fn catch_up_hands_over_a_record_unreadable_on_every_read_alone_then_goes_on() {
    let mut s = mockito::Server::new_async().await;
    let (t1, t2, t3) = (tok(1001, 1), tok(1001, 2), tok(1002, 1));
    let _r = root(&mut s, 1, 5000).await;
    let _p0 = page(&mut s, T0, vec![payment_json(t1, 1), unreadable_json(t2)]).await;
    let again = s
        .mock("GET", payments_path().as_str())
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("order".into(), "asc".into()),
            Matcher::UrlEncoded("cursor".into(), t1.to_string()),
        ]))
        .with_header("content-type", "application/hal+json")
        .with_body(page_json(vec![unreadable_json(t2), payment_json(t3, 3)]))
        .expect(READS - 1)
        .create_async()
        .await;
    let _p2 = page(&mut s, t2, vec![payment_json(t3, 3)]).await;
    let _end = page(&mut s, t3, vec![]).await;
    let _idle = idle_after(&mut s, t3).await;

    let run = start(fast_config(&s.url()), Some(T0));
    wait_until(WAIT, "t3", || run.sink.op_ids().contains(&t3)).await;
    assert_eq!(shape(&run.sink), vec![vec![t1], vec![-t2], vec![t3]]);
    assert!(
        run.sink.log().batches[1].records[0]
            .as_ref()
            .unwrap_err()
            .reason
            .contains("transaction_hash")
    );
    assert_eq!(run.status.snapshot().malformed, READS as u64);
    again.assert_async().await;
    run.stop().await;
}

#[tokio::test]
async fn catch_up_pages_until_empty_then_streams_from_the_last_token() {
    let mut s = mockito::Server::new_async().await;
    let (t1, t2, t3, t4, t5) = (
        tok(1001, 1),
        tok(1001, 2),
        tok(1002, 1),
        tok(1005, 1),
        tok(1006, 1),
    );
    let _r = root(&mut s, 1, 5000).await;
    let p1 = page(
        &mut s,
        T0,
        vec![
            payment_json(t1, 1),
            payment_json(t2, 2),
            payment_json(t3, 3),
        ],
    )
    .await;
    let p2 = page(&mut s, t3, vec![payment_json(t4, 4)]).await;
    let p3 = page(&mut s, t4, vec![]).await;
    let live = sse(
        &mut s,
        t4,
        vec![HELLO.into(), sse_record(t5), BYEBYE.into()],
    )
    .await;
    let _idle = idle_after(&mut s, t5).await;

    let run = start(fast_config(&s.url()), Some(T0));
    wait_until(WAIT, "all five", || run.sink.op_ids().len() == 5).await;
    assert_eq!(run.sink.op_ids(), vec![t1, t2, t3, t4, t5]);
    {
        let log = run.sink.log();
        let shape: Vec<_> = log
            .batches
            .iter()
            .map(|b| (b.records.len(), b.up_to, b.phase))
            .collect();
        assert_eq!(
            shape,
            vec![
                (3, t3, Phase::CatchUp),
                (1, t4, Phase::CatchUp),
                (1, t5, Phase::Live)
            ]
        );
    }
    for m in [p1, p2, p3, live] {
        m.assert_async().await;
    }
    run.stop().await;
}

#[tokio::test]
async fn a_new_account_persists_its_starting_point_before_reading() {
    let mut s = mockito::Server::new_async().await;
    let latest = 7000;
    let start_token = toid::encode(latest, 0xF_FFFF, 0xFFF);
    let t1 = tok(latest + 1, 1);
    let _r = root(&mut s, 1, latest).await;
    let p = page(&mut s, start_token, vec![]).await;
    let live = sse(
        &mut s,
        start_token,
        vec![HELLO.into(), sse_record(t1), BYEBYE.into()],
    )
    .await;
    let _idle = idle_after(&mut s, t1).await;

    let run = start(fast_config(&s.url()), None);
    wait_until(WAIT, "first live record", || run.sink.op_ids() == vec![t1]).await;
    assert_eq!(run.sink.log().init, Some(start_token));
    assert_eq!(toid::ledger(start_token), latest);
    assert!(start_token < toid::ledger_start(latest + 1));
    p.assert_async().await;
    live.assert_async().await;
    run.stop().await;
}

#[tokio::test]
async fn a_cursor_ahead_of_the_latest_ledger_halts_the_account() {
    let mut s = mockito::Server::new_async().await;
    let _r = root(&mut s, 1, 900).await;
    let never = s
        .mock("GET", payments_path().as_str())
        .match_query(Matcher::Any)
        .expect(0)
        .create_async()
        .await;
    let run = start(fast_config(&s.url()), Some(T0));
    let exit = tokio::time::timeout(WAIT, run.task).await.unwrap().unwrap();
    assert_eq!(
        exit,
        FollowerExit::Halted(HaltReason::NetworkReset {
            cursor_ledger: 1000,
            latest_ledger: 900
        })
    );
    let snap = run.status.snapshot();
    assert!(snap.reset);
    assert!(matches!(snap.state, FollowerState::Halted { .. }));
    assert!(run.sink.log().batches.is_empty());
    never.assert_async().await;
}

#[tokio::test]
async fn a_cursor_older_than_retained_history_is_flagged_and_ingestion_goes_on() {
    let mut s = mockito::Server::new_async().await;
    let t1 = tok(2001, 1);
    let _r = root(&mut s, 2000, 5000).await;
    let _p1 = page(&mut s, T0, vec![payment_json(t1, 5)]).await;
    let _p2 = page(&mut s, t1, vec![]).await;
    let _idle = idle_after(&mut s, t1).await;
    let run = start(fast_config(&s.url()), Some(T0));
    wait_until(WAIT, "record after gap", || run.sink.op_ids() == vec![t1]).await;
    let snap = run.status.snapshot();
    assert!(snap.gap);
    assert_eq!(snap.gaps_detected, 1);
    run.status.clear_gap();
    assert!(!run.status.snapshot().gap);
    run.stop().await;
}

#[tokio::test]
async fn a_retryable_sink_error_redelivers_the_same_batch_and_a_fatal_one_halts() {
    let mut s = mockito::Server::new_async().await;
    let (t1, t2) = (tok(1001, 1), tok(1001, 2));
    let _r = root(&mut s, 1, 5000).await;
    let _p1 = page(&mut s, T0, vec![payment_json(t1, 1)]).await;
    let _p2 = page(&mut s, t1, vec![payment_json(t2, 2)]).await;
    let sink = TestSink::default();
    {
        let mut log = sink.log();
        log.script
            .push_back(Some(SinkError::Retryable("deadlock".into())));
        log.script
            .push_back(Some(SinkError::Retryable("lost connection".into())));
        log.script.push_back(None);
        log.script
            .push_back(Some(SinkError::Fatal("constraint violated".into())));
    }
    let run = start_with(fast_config(&s.url()), Some(T0), sink);
    let exit = tokio::time::timeout(WAIT, run.task).await.unwrap().unwrap();
    assert_eq!(
        exit,
        FollowerExit::Halted(HaltReason::SinkFatal {
            message: "constraint violated".into()
        })
    );
    let log = run.sink.log();
    assert_eq!(log.calls, 4);
    assert_eq!(log.batches.len(), 1);
    assert_eq!(log.batches[0].tokens(), vec![Some(t1)]);
    let snap = run.status.snapshot();
    assert_eq!(
        snap.cursor,
        Some(t1),
        "the fatal batch did not move the cursor"
    );
    assert_eq!(snap.sink_retries, 2);
}

#[tokio::test]
async fn an_unknown_account_is_retried_slowly() {
    let mut s = mockito::Server::new_async().await;
    let _r = root(&mut s, 1, 5000).await;
    let missing = s
        .mock("GET", payments_path().as_str())
        .match_query(Matcher::UrlEncoded("order".into(), "asc".into()))
        .with_status(404)
        .with_header("content-type", "application/problem+json")
        .with_body(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/horizon/problem_404_not_found_py_stellar_base.json"
        )))
        .expect(2)
        .create_async()
        .await;
    let _p = page(&mut s, T0, vec![]).await;
    let _idle = idle_after(&mut s, T0).await;
    let started = Instant::now();
    let run = start(fast_config(&s.url()), Some(T0));
    wait_until(WAIT, "streaming after 404s", || {
        run.status.snapshot().routine_closes >= 1
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "not_found_retry honoured"
    );
    assert_eq!(run.status.snapshot().errors, 2);
    missing.assert_async().await;
    run.stop().await;
}

#[tokio::test]
async fn hostile_responses_are_errors_not_panics_and_the_follower_recovers() {
    let mut s = mockito::Server::new_async().await;
    let t1 = tok(1001, 1);
    let _r = root(&mut s, 1, 5000).await;
    // Catch-up: garbage JSON, then a body over the cap, then a good empty page.
    let garbage = s
        .mock("GET", payments_path().as_str())
        .match_query(Matcher::UrlEncoded("order".into(), "asc".into()))
        .with_header("content-type", "application/hal+json")
        .with_body("{\"_embedded\": [not json")
        .expect(1)
        .create_async()
        .await;
    let huge = s
        .mock("GET", payments_path().as_str())
        .match_query(Matcher::UrlEncoded("order".into(), "asc".into()))
        .with_header("content-type", "application/hal+json")
        .with_body(vec![b' '; 300_000])
        .expect(1)
        .create_async()
        .await;
    let _p = page(&mut s, T0, vec![]).await;
    // Stream: wrong content type, then an endless line, then a good stream.
    let html = stream(&mut s, T0)
        .with_header("content-type", "text/html")
        .with_body("<html>maintenance</html>")
        .expect(1)
        .create_async()
        .await;
    let endless = stream(&mut s, T0)
        .with_header("content-type", "text/event-stream")
        .with_chunked_body(|w| {
            w.write_all(HELLO.as_bytes())?;
            w.write_all(b"data: ")?;
            for _ in 0..40 {
                w.write_all(&[b'x'; 8192])?;
            }
            Ok(())
        })
        .expect(1)
        .create_async()
        .await;
    let _ok = sse(
        &mut s,
        T0,
        vec![HELLO.into(), sse_record(t1), BYEBYE.into()],
    )
    .await;
    let _idle = idle_after(&mut s, t1).await;

    let mut cfg = fast_config(&s.url());
    cfg.max_body_bytes = 100_000;
    cfg.max_event_bytes = 64 * 1024;
    let run = start(cfg, Some(T0));
    wait_until(WAIT, "record after hostility", || {
        run.sink.op_ids() == vec![t1]
    })
    .await;
    assert_eq!(run.status.snapshot().errors, 4);
    for m in [garbage, huge, html, endless] {
        m.assert_async().await;
    }
    run.stop().await;
}

#[tokio::test]
async fn a_silent_stream_is_a_stall_and_is_reconnected() {
    let mut s = mockito::Server::new_async().await;
    let t1 = tok(1001, 1);
    let _r = root(&mut s, 1, 5000).await;
    let _p = page(&mut s, T0, vec![]).await;
    let silent = stream(&mut s, T0)
        .with_header("content-type", "text/event-stream")
        .with_chunked_body(|w| {
            w.write_all(HELLO.as_bytes())?;
            w.flush()?;
            // Silence in short steps (a long sleep would block the mock server).
            for _ in 0..60 {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(())
        })
        .expect(1)
        .create_async()
        .await;
    let _ok = sse(
        &mut s,
        T0,
        vec![HELLO.into(), sse_record(t1), BYEBYE.into()],
    )
    .await;
    let _idle = idle_after(&mut s, t1).await;

    let mut cfg = fast_config(&s.url());
    cfg.follow.stall_timeout = Duration::from_millis(250);
    let run = start(cfg, Some(T0));
    wait_until(WAIT, "record after stall", || run.sink.op_ids() == vec![t1]).await;
    let snap = run.status.snapshot();
    assert_eq!(snap.stalls, 1);
    silent.assert_async().await;
    run.stop().await;
}
