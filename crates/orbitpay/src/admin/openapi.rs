//! The API's OpenAPI document, generated from the handlers' annotations. `docs/openapi.json`
//! is this document; a test fails when they differ (`ORBITPAY_UPDATE_OPENAPI=1` rewrites it).

use utoipa::OpenApi;

use super::payments::{unmatched, unreadable};
use super::{events, health, metrics, sessions, status, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "orbitpay admin API",
        description = "HTTP/1.1 + JSON on the daemon's Unix socket (`curl --unix-socket /run/orbitpay/admin.sock http://localhost/v1/status`). Every error is `{\"error\":{\"code\":\"...\",\"message\":\"...\"}}`. Amounts are decimal strings with 7 decimals."
    ),
    paths(
        sessions::create_session,
        sessions::list_sessions,
        sessions::get_session,
        sessions::session_timeline,
        sessions::cancel_session,
        sessions::report_tx,
        unmatched::list_unmatched,
        unmatched::show_unmatched,
        unreadable::list,
        unreadable::show,
        events::list_events,
        events::show_event,
        webhooks::list,
        webhooks::show,
        webhooks::retry,
        webhooks::redeliver,
        webhooks::enable,
        status::status,
        health::healthz,
        health::readyz,
        metrics::metrics_text,
    ),
    tags(
        (name = "sessions", description = "Payment sessions"),
        (name = "operations", description = "Feeds, status and probes"),
        (name = "webhooks", description = "The webhook delivery queue"),
    ),
    components(schemas(events::schema::WebhookEnvelope))
)]
pub struct ApiDoc;

/// The document as committed in `docs/openapi.json` (pretty JSON, trailing newline).
pub fn openapi_json() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    json.push('\n');
    json
}
