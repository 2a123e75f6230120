//! Payment instructions are handed out only while a session can take a payment, and then ask
//! for exactly what is still owed: a wallet scanning the pay URI never offers to pay zero, and a
//! stored QR code never leads into a session that would refuse the money.

mod admin_support;

use admin_support::*;
use diesel_async::SimpleAsyncConnection as _;
use serde_json::Value;

/// Sets a session's state in the database, as the matcher, the expiry sweep or a cancel would.
async fn set(h: &Harness, id: &str, assignments: &str) {
    let mut conn = h.db.conn().await;
    conn.batch_execute(&format!(
        "UPDATE sessions SET {assignments} WHERE id = '{id}'"
    ))
    .await
    .unwrap();
}

/// The session as `GET /v1/sessions/{id}` and as its row in `GET /v1/sessions` show it.
async fn views(h: &Harness, id: &str) -> [Value; 2] {
    let one = body_json(&h.get(&format!("/v1/sessions/{id}")).await);
    let page = body_json(&h.get("/v1/sessions").await);
    let listed = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap()
        .clone();
    [one, listed]
}

fn pay_uri(view: &Value) -> &str {
    view["payment_instructions"]["pay_uri"].as_str().unwrap()
}

#[track_caller]
fn assert_not_payable(view: &Value, status: &str) {
    assert_eq!(view["status"], status);
    assert_eq!(view["payable"], false, "{view}");
    assert_eq!(view["payment_instructions"], Value::Null, "{view}");
}

#[tokio::test]
async fn an_underpaid_session_asks_for_exactly_what_is_still_owed() {
    let h = Harness::start().await;
    let s = h.create_session("owed").await;
    let id = s["id"].as_str().unwrap();
    assert_eq!(s["payable"], true);
    assert!(
        pay_uri(&s).contains("&amount=12.5000000&"),
        "{}",
        pay_uri(&s)
    );

    set(&h, id, "amount_received = 50000001").await;
    for view in views(&h, id).await {
        assert_eq!(view["status"], "pending");
        assert_eq!(view["payable"], true);
        assert!(
            pay_uri(&view).contains("&amount=7.4999999&"),
            "{}",
            pay_uri(&view)
        );
    }

    // A claim with part of the amount still owed: a second payment can still complete it.
    set(
        &h,
        id,
        &format!(
            "status = 'processing', processing_tx_hash = '{}', processing_started_at = now(), \
             claim_source = 'stream'",
            tx_hash(3)
        ),
    )
    .await;
    for view in views(&h, id).await {
        assert_eq!(view["status"], "processing");
        assert_eq!(view["payable"], true);
        assert!(
            pay_uri(&view).contains("&amount=7.4999999&"),
            "{}",
            pay_uri(&view)
        );
    }

    // A claim whose transaction already covers the amount owes nothing: no URI for zero.
    set(&h, id, "amount_received = amount").await;
    for view in views(&h, id).await {
        assert_not_payable(&view, "processing");
    }
}

#[tokio::test]
async fn the_pay_uri_disappears_at_paid_expired_and_cancelled() {
    let h = Harness::start().await;

    let paid = h.create_session("paid").await;
    let id = paid["id"].as_str().unwrap();
    set(&h, id, "status = 'paid', amount_received = amount").await;
    for view in views(&h, id).await {
        assert_not_payable(&view, "paid");
    }
    // Overpaid is still paid, and owes nothing.
    set(&h, id, "amount_received = amount + 1").await;
    for view in views(&h, id).await {
        assert_not_payable(&view, "paid");
    }

    // An expired session keeps what it had received and owes the rest, but takes no payment.
    let expired = h.create_session("expired").await;
    let id = expired["id"].as_str().unwrap();
    set(&h, id, "status = 'expired', amount_received = 10").await;
    for view in views(&h, id).await {
        assert_not_payable(&view, "expired");
    }

    let cancelled = h.create_session("cancelled").await;
    let id = cancelled["id"].as_str().unwrap();
    let r = h.post(&format!("/v1/sessions/{id}/cancel"), None, "").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_not_payable(&body_json(&r), "cancelled");
    for view in views(&h, id).await {
        assert_not_payable(&view, "cancelled");
    }
}

#[tokio::test]
async fn a_settled_report_answers_without_instructions() {
    let h = Harness::start().await;
    let s = h.create_session("report").await;
    let id = s["id"].as_str().unwrap();
    let r = h
        .post(
            &format!("/v1/sessions/{id}/payments"),
            Some("report-1"),
            &format!(r#"{{"tx_hash":"{}"}}"#, tx_hash(9)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_not_payable(&body_json(&r), "paid");
}
