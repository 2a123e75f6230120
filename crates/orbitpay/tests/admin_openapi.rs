//! docs/openapi.json is the document the code generates. Regenerate with
//! `ORBITPAY_UPDATE_OPENAPI=1 cargo test -p orbitpay --test admin_openapi`.

use std::path::PathBuf;

#[test]
fn docs_openapi_json_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let generated = orbitpay::admin::openapi::openapi_json();
    if std::env::var_os("ORBITPAY_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date; regenerate it with \
         ORBITPAY_UPDATE_OPENAPI=1 cargo test -p orbitpay --test admin_openapi"
    );
}

#[test]
fn every_route_is_documented() {
    let doc: serde_json::Value =
        serde_json::from_str(&orbitpay::admin::openapi::openapi_json()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/sessions", "post"),
        ("/v1/sessions", "get"),
        ("/v1/sessions/{id}", "get"),
        ("/v1/sessions/{id}/cancel", "post"),
        ("/v1/sessions/{id}/payments", "post"),
        ("/v1/payments/unmatched", "get"),
        ("/v1/payments/unreadable", "get"),
        ("/v1/events", "get"),
        ("/v1/events/{event_id}", "get"),
        ("/v1/events/{event_id}/redeliver", "post"),
        ("/v1/sessions/{id}/timeline", "get"),
        ("/v1/payments/unmatched/{id}", "get"),
        ("/v1/payments/unreadable/{account}/{paging_token}", "get"),
        ("/v1/webhooks/deliveries", "get"),
        ("/v1/webhooks/deliveries/{id}", "get"),
        ("/v1/webhooks/deliveries/{id}/retry", "post"),
        ("/v1/webhooks/endpoint/enable", "post"),
        ("/v1/status", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    let links = &paths["/v1/sessions"]["post"]["responses"]["201"]["links"];
    for (name, operation) in [
        ("show", "get_session"),
        ("cancel", "cancel_session"),
        ("report", "report_tx"),
    ] {
        assert_eq!(
            links[name]["operationId"], operation,
            "a created session links to {operation}"
        );
        assert_eq!(links[name]["parameters"]["id"], "$response.body#/id");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "WebhookEnvelope",
        "DeliveredData",
        "EventData",
        "SessionSnapshot",
        "SnapshotPayment",
        "EventType",
        "Credited",
        "Claimed",
        "Released",
        "Recovered",
        "UnmatchedPayment",
        "SessionState",
        "SessionChange",
    ] {
        assert!(
            schemas.contains_key(name),
            "the webhook schema {name} is documented"
        );
    }
}
