//! Every rejection is the API's one JSON error envelope with a code, the framework's own
//! extractor rejections and fallbacks included: a client never has to parse plain text.

mod admin_support;

use admin_support::*;
use orbitpay_cli::client::Method;

#[track_caller]
fn assert_envelope(r: &orbitpay_cli::ApiResponse, status: u16, code: &str) {
    assert_error(r, status, code);
    assert_eq!(
        r.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let body = body_json(r);
    assert!(body["error"]["message"].is_string(), "{body}");
}

#[tokio::test]
async fn path_ids_that_do_not_parse_get_the_json_envelope() {
    let h = Harness::start().await;
    // An id that does not parse (past i64, not a number, not a UUID) names nothing: 404.
    let past_i64 = "9223372036854775808";
    for path in [
        format!("/v1/webhooks/deliveries/{past_i64}"),
        "/v1/webhooks/deliveries/-99999999999999999999".to_owned(),
        "/v1/webhooks/deliveries/abc".to_owned(),
        "/v1/webhooks/deliveries/7".to_owned(),
        format!("/v1/payments/unmatched/{past_i64}"),
        "/v1/payments/unreadable/0/1".to_owned(),
        format!("/v1/payments/unreadable/{ACCOUNT}/{past_i64}"),
    ] {
        assert_envelope(&h.get(&path).await, 404, "NOT_FOUND");
    }
    for path in [
        format!("/v1/webhooks/deliveries/{past_i64}/retry"),
        "/v1/events/7/redeliver".to_owned(),
    ] {
        assert_envelope(&h.post(&path, None, "").await, 404, "NOT_FOUND");
    }
    assert_envelope(
        &h.get("/v1/sessions/not-a-uuid").await,
        404,
        "SESSION_NOT_FOUND",
    );
    // Percent-decoded text that is not UTF-8 is refused by the framework's Path: still the
    // envelope, on every route with a path parameter.
    for path in [
        "/v1/sessions/%FF",
        "/v1/sessions/%FF/timeline",
        "/v1/events/%FF",
        "/v1/payments/unmatched/%FF",
        "/v1/webhooks/deliveries/%FF",
    ] {
        assert_envelope(&h.get(path).await, 400, "INVALID_REQUEST");
    }
    for path in [
        "/v1/sessions/%FF/cancel",
        "/v1/events/%FF/redeliver",
        "/v1/webhooks/deliveries/%FF/retry",
    ] {
        assert_envelope(&h.post(path, None, "").await, 400, "INVALID_REQUEST");
    }
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_bad_queries_get_the_json_envelope() {
    let h = Harness::start().await;
    assert_envelope(&h.get("/v1/nothing-here").await, 404, "NOT_FOUND");
    assert_envelope(&h.get("/v1/sessions/x/y/z").await, 404, "NOT_FOUND");
    let delete = h
        .client
        .send(Method::DELETE, "/v1/sessions", &[], None)
        .await
        .unwrap();
    assert_envelope(&delete, 405, "METHOD_NOT_ALLOWED");
    assert_envelope(
        &h.post("/v1/status", None, "").await,
        405,
        "METHOD_NOT_ALLOWED",
    );
    for path in [
        "/v1/sessions?limit=abc",
        "/v1/sessions?limit=99999999999999999999",
        "/v1/sessions?after=not-a-uuid",
        "/v1/events?after=9223372036854775808",
        "/v1/webhooks/deliveries?limit=0",
        // A feed's `after` is documented as 0 or more; below it is refused, not read as 0.
        "/v1/events?after=-1",
        "/v1/payments/unmatched?after=-1",
        "/v1/webhooks/deliveries?after=-1",
    ] {
        assert_envelope(&h.get(path).await, 400, "INVALID_REQUEST");
    }
}
