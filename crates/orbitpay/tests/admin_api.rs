//! API v1 over the real socket and a real database: sessions, report-tx, the operations
//! endpoints, and every error code.

mod admin_support;

use admin_support::*;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use orbitpay_core::{AccountId, MuxedAccount, UnmatchedReason};
use orbitpay_store::models::{NewPayment, NewUnmatchedPayment};
use orbitpay_store::numeric::I128Numeric;
use orbitpay_store::schema::{outbox_events, payments, unmatched_payments};
use serde_json::Value;

#[tokio::test]
async fn create_returns_the_session_with_its_payment_instructions() {
    let h = Harness::start().await;
    let s = h.create_session("create-1").await;
    assert_eq!(s["status"], "pending");
    assert_eq!(s["amount"], "12.5000000");
    assert_eq!(s["amount_received"], "0.0000000");
    assert_eq!(s["asset"], USDC);
    assert_eq!(
        s["account"], ACCOUNT,
        "the first watched account is the default"
    );
    assert_eq!(s["metadata"], serde_json::json!({}));
    assert_eq!(s["payments"], serde_json::json!([]));

    let reference = s["reference"].as_str().unwrap();
    let pi = &s["payment_instructions"];
    assert_eq!(pi["destination"], ACCOUNT);
    assert_eq!(
        pi["memo"],
        serde_json::json!({"type": "id", "value": reference})
    );
    let muxed: MuxedAccount = pi["muxed_destination"].as_str().unwrap().parse().unwrap();
    assert_eq!(muxed.account, ACCOUNT.parse::<AccountId>().unwrap());
    assert_eq!(muxed.id.to_string(), reference);
    let (code, issuer) = USDC.split_once(':').unwrap();
    assert_eq!(
        pi["pay_uri"],
        format!(
            "web+stellar:pay?destination={ACCOUNT}&amount=12.5000000&asset_code={code}&asset_issuer={issuer}\
             &memo={reference}&memo_type=MEMO_ID&network_passphrase=Test%20SDF%20Network%20%3B%20September%202015"
        )
    );
    let created: chrono::DateTime<chrono::Utc> = s["created_at"].as_str().unwrap().parse().unwrap();
    let expires: chrono::DateTime<chrono::Utc> = s["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        (expires - created).num_seconds(),
        900,
        "default expiry, from the database clock"
    );

    // The event is written with the session.
    let mut conn = h.db.conn().await;
    let events: Vec<(String, Option<uuid::Uuid>)> = outbox_events::table
        .select((outbox_events::event_type, outbox_events::session_id))
        .load(&mut conn)
        .await
        .unwrap();
    let id: uuid::Uuid = s["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(events, vec![("session.created".to_owned(), Some(id))]);
}

#[tokio::test]
async fn create_takes_exact_amounts_and_the_optional_fields() {
    let h = Harness::start().await;
    let r = h
        .post(
            "/v1/sessions",
            Some("numbers"),
            &format!(
                r#"{{"amount": "922337203685.4775807", "asset": "native", "account": "{SECOND_ACCOUNT}",
                    "expires_in": 60.0, "order_id": "order-9", "metadata": {{"cart": [1, 2], "big": 12345678901234567}},
                    "webhook_url": "https://shop.example/hooks"}}"#
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let s = body_json(&r);
    assert_eq!(s["amount"], "922337203685.4775807", "no detour through f64");
    assert_eq!(s["asset"], "native");
    assert_eq!(s["account"], SECOND_ACCOUNT);
    assert_eq!(s["order_id"], "order-9");
    assert_eq!(s["metadata"]["big"], 12345678901234567u64);
    assert_eq!(s["webhook_url"], "https://shop.example/hooks");
    assert!(
        !s["payment_instructions"]["pay_uri"]
            .as_str()
            .unwrap()
            .contains("asset_code")
    );
    let created: chrono::DateTime<chrono::Utc> = s["created_at"].as_str().unwrap().parse().unwrap();
    let expires: chrono::DateTime<chrono::Utc> = s["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!((expires - created).num_seconds(), 60);
}

#[tokio::test]
async fn get_returns_the_session_with_its_payments() {
    let h = Harness::start().await;
    let s = h.create_session("get-1").await;
    let id: uuid::Uuid = s["id"].as_str().unwrap().parse().unwrap();
    let mut conn = h.db.conn().await;
    diesel::insert_into(payments::table)
        .values(NewPayment {
            session_id: id,
            tx_hash: tx_hash(7),
            amount: 50_000_000,
            asset: USDC.into(),
            ledger: 42,
            inner_tx_hash: None,
            from_address: None,
        })
        .execute(&mut conn)
        .await
        .unwrap();

    let r = h.get(&format!("/v1/sessions/{id}")).await;
    assert_eq!(r.status, 200);
    let got = body_json(&r);
    assert_eq!(got["id"], s["id"]);
    let payments = got["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["tx_hash"], tx_hash(7));
    assert_eq!(payments[0]["amount"], "5.0000000");
    assert_eq!(payments[0]["ledger"], 42);

    assert_error(
        &h.get(&format!("/v1/sessions/{}", uuid::Uuid::now_v7()))
            .await,
        404,
        "SESSION_NOT_FOUND",
    );
    assert_error(
        &h.get("/v1/sessions/not-a-uuid").await,
        404,
        "SESSION_NOT_FOUND",
    );
}

#[tokio::test]
async fn list_pages_with_a_keyset_and_filters() {
    let h = Harness::start().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = h
            .post(
                "/v1/sessions",
                Some(&format!("list-{i}")),
                &format!(
                    r#"{{"amount":"1","asset":"native","order_id":"o-{}"}}"#,
                    i % 2
                ),
            )
            .await;
        assert_eq!(r.status, 201);
        ids.push(body_json(&r)["id"].as_str().unwrap().to_owned());
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let q = match &after {
            Some(a) => format!("/v1/sessions?limit=2&after={a}"),
            None => "/v1/sessions?limit=2".to_owned(),
        };
        let page = body_json(&h.get(&q).await);
        for s in page["data"].as_array().unwrap() {
            seen.push(s["id"].as_str().unwrap().to_owned());
            assert!(s.get("payments").is_none(), "lists carry no payments");
        }
        match page["next_after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, newest_first, "every session once, newest first");

    let filtered = body_json(&h.get("/v1/sessions?order_id=o-1").await);
    assert_eq!(filtered["data"].as_array().unwrap().len(), 2);
    let pending = body_json(&h.get("/v1/sessions?status=pending&limit=500").await);
    assert_eq!(pending["data"].as_array().unwrap().len(), 5);
    let paid = body_json(&h.get("/v1/sessions?status=paid").await);
    assert!(paid["data"].as_array().unwrap().is_empty());
    assert_eq!(paid["next_after"], Value::Null);

    assert_error(
        &h.get("/v1/sessions?status=nope").await,
        400,
        "INVALID_REQUEST",
    );
    assert_error(&h.get("/v1/sessions?limit=0").await, 400, "INVALID_REQUEST");
    assert_error(
        &h.get("/v1/sessions?limit=abc").await,
        400,
        "INVALID_REQUEST",
    );
    assert_error(
        &h.get(&format!("/v1/sessions?after={}", uuid::Uuid::now_v7()))
            .await,
        410,
        "UNKNOWN_CURSOR",
    );
}

#[tokio::test]
async fn cancel_moves_a_pending_session_once() {
    let h = Harness::start().await;
    let s = h.create_session("cancel-1").await;
    let id = s["id"].as_str().unwrap();
    let r = h.post(&format!("/v1/sessions/{id}/cancel"), None, "").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(body_json(&r)["status"], "cancelled");

    let again = h.post(&format!("/v1/sessions/{id}/cancel"), None, "").await;
    assert_error(&again, 409, "INVALID_SESSION_STATE");
    assert!(
        again.error_message().unwrap().contains("cancelled"),
        "the message names the current status"
    );

    let mut conn = h.db.conn().await;
    let kinds: Vec<String> = outbox_events::table
        .select(outbox_events::event_type)
        .order(outbox_events::id)
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(kinds, ["session.created", "session.cancelled"]);

    assert_error(
        &h.post(
            &format!("/v1/sessions/{}/cancel", uuid::Uuid::now_v7()),
            None,
            "",
        )
        .await,
        404,
        "SESSION_NOT_FOUND",
    );
}

#[tokio::test]
async fn report_tx_answers_201_with_the_session_and_replays_200() {
    let h = Harness::start().await;
    let s = h.create_session("report-1").await;
    let id = s["id"].as_str().unwrap();
    let path = format!("/v1/sessions/{id}/payments");
    let body = format!(r#"{{"tx_hash":"{}"}}"#, tx_hash(1));

    let first = h.post(&path, Some("pay-1"), &body).await;
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let v = body_json(&first);
    assert_eq!(v["outcome"], "settled");
    assert_eq!(v["status"], "paid");
    assert_eq!(v["amount_received"], "12.5000000");

    let retry = h.post(&path, Some("pay-1"), &body).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.body, first.body, "byte for byte");
    assert_eq!(h.reporter.calls(), 1, "a replay never reaches the matcher");

    // Not confirmed within the wait: processing, finished in the background.
    let s2 = h.create_session("report-2").await;
    h.reporter.set_mode(FakeMode::Processing);
    let r = h
        .post(
            &format!("/v1/sessions/{}/payments", s2["id"].as_str().unwrap()),
            Some("pay-2"),
            &body,
        )
        .await;
    assert_eq!(r.status, 201);
    let v = body_json(&r);
    assert_eq!(v["outcome"], "processing");
    assert_eq!(v["status"], "processing");
    assert_eq!(v["processing_tx_hash"], tx_hash(1));
}

#[tokio::test]
async fn every_error_code() {
    let h = Harness::start().await;
    let create = |body: &'static str| h.post("/v1/sessions", Some("errors"), body);
    let issuer_flipped = format!(r#"{{"amount":"1","asset":"{}A"}}"#, &USDC[..USDC.len() - 1]);
    let unknown_account = format!(
        r#"{{"amount":"1","asset":"native","account":"{}"}}"#,
        tx_hash(0)
    );
    let not_watched = r#"{"amount":"1","asset":"native","account":"GA5ZPIVPAXEG5LMHTKF4PJZ52K5YFUUBSHL746TINKJ7GNMG4KYF3S4R"}"#;

    for (body, code) in [
        ("{", "ERROR_BAD_JSON"),
        ("[1]", "ERROR_BAD_JSON"),
        (r#"{"amount":"1","asset":5}"#, "ERROR_BAD_JSON"),
        (
            r#"{"amount":"1","asset":"native","surprise":1}"#,
            "ERROR_BAD_JSON",
        ),
        // An amount that is not a decimal number at all, or not a string, is bad JSON.
        (
            r#"{"amount":"one fifty rupees","asset":"native"}"#,
            "ERROR_BAD_JSON",
        ),
        (r#"{"amount":true,"asset":"native"}"#, "ERROR_BAD_JSON"),
        (r#"{"amount":"1e10","asset":"native"}"#, "ERROR_BAD_JSON"),
        (r#"{"amount":"+1","asset":"native"}"#, "ERROR_BAD_JSON"),
        (r#"{"amount":" 1","asset":"native"}"#, "ERROR_BAD_JSON"),
        (r#"{"amount":"NaN","asset":"native"}"#, "ERROR_BAD_JSON"),
        (r#"{"amount":1e10,"asset":"native"}"#, "ERROR_BAD_JSON"),
        (r#"{"amount":12.5,"asset":"native"}"#, "ERROR_BAD_JSON"),
        (r#"{"amount":-3,"asset":"native"}"#, "ERROR_BAD_JSON"),
        (
            r#"{"amount":"1","asset":"native","order_id":"a\u0000b"}"#,
            "INVALID_CHARACTER",
        ),
        (
            r#"{"amount":"1","asset":"native","metadata":{"k\u0000":"v"}}"#,
            "INVALID_CHARACTER",
        ),
        (
            r#"{"amount":"1","asset":"native","metadata":{"k":["ok","v\u0000"]}}"#,
            "INVALID_CHARACTER",
        ),
        (
            r#"{"amount":"1","asset":"native","metadata":[1]}"#,
            "ERROR_BAD_JSON",
        ),
        // A decimal the asset cannot take.
        (r#"{"amount":"0","asset":"native"}"#, "INVALID_AMOUNT"),
        (r#"{"amount":"-3","asset":"native"}"#, "INVALID_AMOUNT"),
        (
            r#"{"amount":"1.00000001","asset":"native"}"#,
            "INVALID_AMOUNT",
        ),
        (
            r#"{"amount":"922337203685.4775808","asset":"native"}"#,
            "INVALID_AMOUNT",
        ),
        (r#"{"amount":"1","asset":"US-DOLLAR"}"#, "INVALID_ASSET"),
        (
            r#"{"amount":"1","asset":"native","expires_in":5}"#,
            "INVALID_REQUEST",
        ),
        (
            r#"{"amount":"1","asset":"native","expires_in":60.5}"#,
            "ERROR_BAD_JSON",
        ),
        (
            r#"{"amount":"1","asset":"native","expires_in":-60}"#,
            "ERROR_BAD_JSON",
        ),
    ] {
        assert_error(&create(body).await, 400, code);
    }
    let not_a_number = create(r#"{"amount":"one fifty rupees","asset":"native"}"#).await;
    assert!(
        not_a_number.error_message().unwrap().contains("amount"),
        "the message names the field"
    );
    for path in [
        "/v1/sessions?order_id=a%00b",
        "/v1/sessions?status=pending&order%00=x",
    ] {
        assert_error(&h.get(path).await, 400, "INVALID_CHARACTER");
    }
    assert_error(
        &h.post("/v1/sessions", Some("errors"), &issuer_flipped)
            .await,
        400,
        "INVALID_ASSET",
    );
    assert_error(
        &h.post("/v1/sessions", Some("errors"), &unknown_account)
            .await,
        400,
        "UNKNOWN_ACCOUNT",
    );
    assert_error(
        &h.post("/v1/sessions", Some("errors"), not_watched).await,
        400,
        "UNKNOWN_ACCOUNT",
    );
    let big_metadata = format!(
        r#"{{"amount":"1","asset":"native","metadata":{{"x":"{}"}}}}"#,
        "a".repeat(17 * 1024)
    );
    assert_error(
        &h.post("/v1/sessions", Some("errors"), &big_metadata).await,
        400,
        "INVALID_REQUEST",
    );

    let ok = r#"{"amount":"1","asset":"native"}"#;
    assert_error(
        &h.post("/v1/sessions", None, ok).await,
        400,
        "IDEMPOTENCY_KEY_REQUIRED",
    );
    assert_error(
        &h.post("/v1/sessions", Some(&"k".repeat(256)), ok).await,
        400,
        "IDEMPOTENCY_KEY_REQUIRED",
    );
    assert_error(
        &h.post("/v1/sessions", Some("tab\tkey"), ok).await,
        400,
        "IDEMPOTENCY_KEY_REQUIRED",
    );
    assert_eq!(
        h.post("/v1/sessions", Some(&"k".repeat(255)), ok)
            .await
            .status,
        201
    );

    let s = h.create_session("for-report").await;
    let id = s["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/sessions/{id}/payments");
    let h = &h;
    let report = |key: &'static str, body: String| {
        let path = path.clone();
        async move { h.post(&path, Some(key), &body).await }
    };
    assert_error(
        &report("bad-hash", r#"{"tx_hash":"xyz"}"#.into()).await,
        400,
        "INVALID_TX_HASH",
    );
    assert_error(
        &report(
            "bad-hash",
            format!(r#"{{"tx_hash":"{}g"}}"#, &tx_hash(1)[..63]),
        )
        .await,
        400,
        "INVALID_TX_HASH",
    );
    assert_error(
        &report("bad-hash", "{}".into()).await,
        400,
        "ERROR_BAD_JSON",
    );
    let unknown = h
        .post(
            &format!("/v1/sessions/{}/payments", uuid::Uuid::now_v7()),
            Some("r404"),
            &format!(r#"{{"tx_hash":"{}"}}"#, tx_hash(1)),
        )
        .await;
    assert_error(&unknown, 404, "SESSION_NOT_FOUND");
    h.post(&format!("/v1/sessions/{id}/cancel"), None, "").await;
    let late = report("r409", format!(r#"{{"tx_hash":"{}"}}"#, tx_hash(1))).await;
    assert_error(&late, 409, "INVALID_SESSION_STATE");
    assert!(late.error_message().unwrap().contains("cancelled"));

    // 500: no internals leak; the request id leads to the log line.
    let s = h.create_session("for-500").await;
    h.reporter.set_mode(FakeMode::Fail);
    let r = h
        .post(
            &format!("/v1/sessions/{}/payments", s["id"].as_str().unwrap()),
            Some("r500"),
            &format!(r#"{{"tx_hash":"{}"}}"#, tx_hash(1)),
        )
        .await;
    assert_error(&r, 500, "INTERNAL_SERVER_ERROR");
    let text = String::from_utf8_lossy(&r.body);
    assert!(!text.contains("SECRET"), "{text}");
    let request_id = r
        .headers
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(text.contains(&request_id), "{text}");

    // 413 (the socket tests cover bodies without a length too).
    let huge = format!(
        r#"{{"amount":"1","asset":"native","order_id":"{}"}}"#,
        "x".repeat(70 * 1024)
    );
    assert_error(
        &h.post("/v1/sessions", Some("big"), &huge).await,
        413,
        "PAYLOAD_TOO_LARGE",
    );

    // A webhook_url with no signing secret configured: its deliveries could never be sent.
    let unsigned = Harness::start_with(|_, state| state.webhooks_configured = false).await;
    let with_hook = r#"{"amount":"1","asset":"native","webhook_url":"https://shop.example/hook"}"#;
    let r = unsigned.post("/v1/sessions", Some("hook"), with_hook).await;
    assert_error(&r, 422, "WEBHOOKS_NOT_CONFIGURED");
    assert_eq!(
        unsigned
            .post("/v1/sessions", Some("no-hook"), ok)
            .await
            .status,
        201
    );
    assert_eq!(
        h.post("/v1/sessions", Some("hook"), with_hook).await.status,
        201
    );

    assert_error(&h.get("/v2/nothing").await, 404, "NOT_FOUND");
    assert_error(
        &h.post("/v1/status", None, "").await,
        405,
        "METHOD_NOT_ALLOWED",
    );
}

#[tokio::test]
async fn events_unmatched_status_probes_and_metrics() {
    let h = Harness::start().await;
    let a = h.create_session("ops-1").await;
    h.create_session("ops-2").await;

    // The feed serves a commit once every older writing transaction in the cluster has ended
    // (parallel tests hold some open), so wait for both events.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while body_json(&h.get("/v1/events").await)["data"]
        .as_array()
        .unwrap()
        .len()
        < 2
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the feed never served both events"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let page = body_json(&h.get("/v1/events?limit=1").await);
    let events = page["data"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "session.created");
    assert_eq!(events[0]["session_id"], a["id"]);
    assert_eq!(events[0]["payload"]["amount"], "12.5000000");
    let next = page["next_after"].as_i64().unwrap();
    let rest = body_json(&h.get(&format!("/v1/events?after={next}")).await);
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_after"], Value::Null);
    assert_error(
        &h.get("/v1/events?after=999999").await,
        410,
        "UNKNOWN_CURSOR",
    );

    let mut conn = h.db.conn().await;
    diesel::insert_into(unmatched_payments::table)
        .values(NewUnmatchedPayment {
            op_id: 1 << 40,
            tx_hash: tx_hash(9),
            account: ACCOUNT.into(),
            amount: Some(I128Numeric(1_000_000_000_000_000_000_000)),
            asset: Some("native".into()),
            from_address: Some(SECOND_ACCOUNT.into()),
            memo_type: Some("text".into()),
            memo_value: Some("hello".into()),
            memo_bytes: Some(b"hello".to_vec()),
            muxed_id: None,
            reason: UnmatchedReason::UnknownReference,
            session_id: None,
            ledger: Some(42),
            detail: None,
            raw_operation: Some(serde_json::json!({"type": "invoke_host_function", "id": "1"})),
        })
        .execute(&mut conn)
        .await
        .unwrap();
    let unmatched = body_json(&h.get("/v1/payments/unmatched").await);
    let rows = unmatched["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["reason"], "unknown_reference");
    assert_eq!(
        rows[0]["amount"], "100000000000000.0000000",
        "i128 contract amounts are exact"
    );
    assert_eq!(rows[0]["memo_bytes"], "aGVsbG8=");
    assert_eq!(
        rows[0]["raw_operation"],
        serde_json::json!({"type": "invoke_host_function", "id": "1"}),
        "the operation as received, for a refund"
    );
    let after = rows[0]["id"].as_i64().unwrap();
    assert!(
        body_json(
            &h.get(&format!("/v1/payments/unmatched?after={after}"))
                .await
        )["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // A wallet's reported claim shows by its source.
    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut conn,
        &format!(
            "UPDATE sessions SET status = 'processing', processing_tx_hash = '{}',
                 processing_started_at = now(), claim_source = 'client_report' WHERE id = '{}'",
            tx_hash(3),
            a["id"].as_str().unwrap()
        ),
    )
    .await
    .unwrap();
    let status = body_json(&h.get("/v1/status").await);
    assert_eq!(
        status["claims"],
        serde_json::json!({ "client_report": 1, "stream": 0 })
    );
    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut conn,
        &format!(
            "UPDATE sessions SET status = 'pending', processing_tx_hash = NULL,
                 processing_started_at = NULL, claim_source = NULL WHERE id = '{}'",
            a["id"].as_str().unwrap()
        ),
    )
    .await
    .unwrap();
    let status = body_json(&h.get("/v1/status").await);
    assert_eq!(status["version"], "test");
    assert_eq!(status["sessions"]["pending"], 2);
    assert_eq!(status["sessions"]["paid"], 0);
    assert_eq!(status["outbox"]["undelivered"], 0);
    let accounts = &status["accounts"];
    assert_eq!(accounts["total"], 1);
    assert_eq!(accounts["leading"], 1);
    assert_eq!(accounts["by_state"]["streaming"], 1);
    assert_eq!(accounts["by_state"]["halted"], 0);
    // Following: nothing to list.
    assert_eq!(accounts["not_following"], serde_json::json!([]));
    assert_eq!(accounts["not_following_omitted"], 0);

    assert_eq!(body_json(&h.get("/healthz").await)["status"], "ok");
    assert_eq!(h.get("/readyz").await.status, 200);
    *h.ingest.0.lock().unwrap() = vec![account_status("halted")];
    let not_ready = h.get("/readyz").await;
    assert_error(&not_ready, 503, "NOT_READY");
    assert!(not_ready.error_message().unwrap().contains(ACCOUNT));

    // Retrying without progress: ready for a while, not past ingest.retrying_unready_after.
    let retrying = |for_secs: i64| {
        let mut a = account_status("backing_off");
        a.reason = Some("payments page: HTTP 503: Service Unavailable".into());
        a.retrying_since = Some(chrono::Utc::now() - chrono::Duration::seconds(for_secs));
        a
    };
    *h.ingest.0.lock().unwrap() = vec![retrying(10)];
    assert_eq!(h.get("/readyz").await.status, 200);
    *h.ingest.0.lock().unwrap() = vec![retrying(600)];
    let not_ready = h.get("/readyz").await;
    assert_error(&not_ready, 503, "NOT_READY");
    let message = not_ready.error_message().unwrap();
    assert!(
        message.contains("retrying") && message.contains("HTTP 503"),
        "{message}"
    );
    *h.ingest.0.lock().unwrap() = vec![account_status("streaming")];

    let metrics = h.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(text.contains("orbitpay_admin_requests_total"), "{text}");
    assert!(text.contains("orbitpay_sessions_created_total"), "{text}");
}

#[tokio::test]
async fn unreadable_records_are_listed_oldest_first_until_resolved() {
    let h = Harness::start().await;
    let mut conn = h.db.conn().await;
    let account: AccountId = ACCOUNT.parse().unwrap();
    let other: AccountId = SECOND_ACCOUNT.parse().unwrap();
    let token = 120_092_264_608_567_297i64;
    for (acc, t) in [(account, token), (other, token + 1)] {
        orbitpay_store::unreadable::record(
            &mut conn,
            &orbitpay_store::models::NewUnreadableRecord {
                account: acc.to_string(),
                paging_token: t,
                raw: b"{\"id\":".to_vec(),
                raw_truncated: false,
                parse_error: "not JSON: EOF".into(),
                attempts: 5,
            },
        )
        .await
        .unwrap();
    }
    let page = body_json(&h.get("/v1/payments/unreadable").await);
    let rows = page["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["account"], ACCOUNT);
    assert_eq!(rows[0]["paging_token"], token);
    assert_eq!(rows[0]["ledger"], token >> 32);
    assert_eq!(rows[0]["raw"], "eyJpZCI6");
    assert_eq!(rows[0]["attempts"], 5);
    assert_eq!(rows[0]["parse_error"], "not JSON: EOF");
    let mine = body_json(
        &h.get(&format!(
            "/v1/payments/unreadable?account={SECOND_ACCOUNT}&limit=1"
        ))
        .await,
    );
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);
    assert_eq!(mine["data"][0]["account"], SECOND_ACCOUNT);
    assert_error(
        &h.get("/v1/payments/unreadable?account=nope").await,
        400,
        "INVALID_REQUEST",
    );
    assert_error(
        &h.get("/v1/payments/unreadable?limit=0").await,
        400,
        "INVALID_REQUEST",
    );

    assert!(
        orbitpay_store::unreadable::mark_resolved(&mut conn, &account, token)
            .await
            .unwrap()
    );
    let page = body_json(&h.get("/v1/payments/unreadable").await);
    let rows = page["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["account"], SECOND_ACCOUNT);
}

#[tokio::test]
async fn each_show_answers_not_found_in_the_error_body_for_an_id_that_names_nothing() {
    let h = Harness::start().await;
    for path in [
        "/v1/events/0194f0f0-0000-7000-8000-000000000000".to_owned(),
        "/v1/events/not-a-uuid".to_owned(),
        "/v1/payments/unmatched/999".to_owned(),
        "/v1/payments/unmatched/x".to_owned(),
        format!("/v1/payments/unreadable/{ACCOUNT}/1"),
        format!("/v1/payments/unreadable/{ACCOUNT}/x"),
        // The account is part of the record's id: one that does not parse names nothing too.
        "/v1/payments/unreadable/GNOPE/1".to_owned(),
    ] {
        let r = h.get(&path).await;
        assert_error(&r, 404, "NOT_FOUND");
    }
    assert_error(
        &h.get("/v1/sessions/00000000-0000-0000-0000-000000000000/timeline")
            .await,
        404,
        "SESSION_NOT_FOUND",
    );
}

#[tokio::test]
async fn status_summarises_a_thousand_accounts_and_lists_only_a_few_not_following() {
    let h = Harness::start().await;
    let account = |i: u32| {
        let mut bytes = [5u8; 32];
        bytes[..4].copy_from_slice(&i.to_be_bytes());
        AccountId::from_bytes(bytes)
    };
    let mut all: Vec<_> = (0..1_000u32)
        .map(|i| {
            let mut a = account_status(if i < 600 { "streaming" } else { "standby" });
            a.account = account(i);
            a.lag_seconds = (i < 600).then_some(f64::from(i) / 100.0);
            a
        })
        .collect();
    for a in &mut all[10..40] {
        a.state = "halted".into();
        a.reason = Some("the record sink failed fatally: constraint".into());
    }
    for a in &mut all[40..45] {
        a.state = "backing_off".into();
        a.reason = Some("payments page: HTTP 503".into());
    }
    *h.ingest.0.lock().unwrap() = all;

    let response = h.get("/v1/status").await;
    let status = body_json(&response);
    let accounts = &status["accounts"];
    assert_eq!(accounts["total"], 1_000);
    assert_eq!(accounts["leading"], 600);
    assert_eq!(accounts["by_state"]["streaming"], 565);
    assert_eq!(accounts["by_state"]["halted"], 30);
    assert_eq!(accounts["by_state"]["backing_off"], 5);
    assert_eq!(accounts["by_state"]["standby"], 400);
    assert_eq!(accounts["by_state"]["catching_up"], 0);
    assert_eq!(accounts["max_lag_seconds"], 5.99);
    // Halted ones first, each with why; the rest counted.
    let listed = accounts["not_following"].as_array().unwrap();
    assert_eq!(listed.len(), 20);
    assert!(
        listed.iter().all(|a| a["state"] == "halted"
            && a["reason"] == "the record sink failed fatally: constraint"),
        "{listed:#?}"
    );
    assert_eq!(accounts["not_following_omitted"], 15);
    assert!(
        response.body.len() < 20_000,
        "{} bytes for 1,000 accounts",
        response.body.len()
    );
}

#[tokio::test]
async fn the_operator_page_counts_a_thousand_accounts_and_lists_only_those_needing_attention() {
    let h = Harness::start().await;
    let mut all: Vec<_> = (0..1_000u32)
        .map(|i| {
            let mut bytes = [6u8; 32];
            bytes[..4].copy_from_slice(&i.to_be_bytes());
            let mut a = account_status("streaming");
            a.account = AccountId::from_bytes(bytes);
            a
        })
        .collect();
    for a in &mut all[..3] {
        a.state = "halted".into();
        a.reason = Some("the record sink failed fatally: constraint".into());
    }
    *h.ingest.0.lock().unwrap() = all;

    let response = h.get("/ui/").await;
    assert_eq!(response.status, 200);
    let page = String::from_utf8(response.body.to_vec()).unwrap();
    assert!(
        page.contains("1000 accounts: 3 halted, 997 following."),
        "{page}"
    );
    // Only the halted ones get a row, each with why.
    assert_eq!(page.matches("<tr class=\"state-").count(), 3, "{page}");
    assert_eq!(
        page.matches("the record sink failed fatally: constraint")
            .count(),
        3
    );
    assert!(
        page.len() < 30_000,
        "{} bytes for 1,000 accounts",
        page.len()
    );
}
