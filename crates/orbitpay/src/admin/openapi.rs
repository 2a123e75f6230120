//! The API's OpenAPI document, generated from the handlers' annotations. `docs/openapi.json`
//! is this document; a test fails when they differ (`ORBITPAY_UPDATE_OPENAPI=1` rewrites it).

use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::payments::{unmatched, unreadable};
use super::{accounts, events, health, metrics, refunds, sessions, status, webhooks};

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
        accounts::create_account,
        accounts::list_accounts,
        accounts::remove_account,
        refunds::create_refund,
        refunds::list_refunds,
        refunds::get_refund,
        refunds::prepare_refund,
        refunds::cancel_refund,
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
        (name = "accounts", description = "The watched accounts"),
        (name = "refunds", description = "Refunds: unsigned transactions the merchant signs"),
        (name = "operations", description = "Feeds, status and probes"),
        (name = "webhooks", description = "The webhook delivery queue"),
    ),
    components(schemas(events::schema::WebhookEnvelope, webhooks::DeliveryStateSchema)),
    modifiers(&EveryOperationMayAnswer)
)]
pub struct ApiDoc;

/// The answers any operation may give, whatever it does: documented once here rather than on
/// each handler, so that no operation's list of status codes can miss one.
struct EveryOperationMayAnswer;

impl Modify for EveryOperationMayAnswer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            // The probes and metrics answer without the database.
            let uses_database = !matches!(path.as_str(), "/healthz" | "/metrics");
            let path_parameters = path.contains('{');
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let responses = &mut operation.responses.responses;
                let mut add = |status: &str, description: &str| {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description).into());
                };
                add(
                    "403",
                    "FORBIDDEN: the peer's uid is not on admin.allowed_uids",
                );
                add(
                    "500",
                    "INTERNAL_SERVER_ERROR (the message carries the request id; details are in the log)",
                );
                if path_parameters {
                    add(
                        "400",
                        "INVALID_REQUEST: a path parameter is not UTF-8 once percent-decoded",
                    );
                }
                if uses_database {
                    add(
                        "503",
                        "DATABASE_UNAVAILABLE, with Retry-After: the database is unreachable or failing over",
                    );
                }
            }
        }
    }
}

/// The document as committed in `docs/openapi.json` (pretty JSON, trailing newline).
pub fn openapi_json() -> String {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
    camel_case_links(&mut doc);
    let mut json = serde_json::to_string_pretty(&doc).expect("the OpenAPI document serializes");
    json.push('\n');
    json
}

/// utoipa 5.5 writes a Link object's fields in snake case (`operation_id`), which OpenAPI
/// tools ignore, so no link could be followed; they are renamed to the specification's names.
fn camel_case_links(doc: &mut serde_json::Value) {
    let operations = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let Some(responses) = operation["responses"].as_object_mut() else {
            continue;
        };
        for response in responses.values_mut() {
            let Some(links) = response.get_mut("links").and_then(|l| l.as_object_mut()) else {
                continue;
            };
            for link in links.values_mut().filter_map(|l| l.as_object_mut()) {
                for (from, to) in [
                    ("operation_id", "operationId"),
                    ("operation_ref", "operationRef"),
                    ("request_body", "requestBody"),
                ] {
                    if let Some(v) = link.remove(from) {
                        link.insert(to.to_owned(), v);
                    }
                }
            }
        }
    }
}
