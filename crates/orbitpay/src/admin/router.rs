//! The routes, and the layer around every request. It only routes: each resource's module
//! parses, calls the store (or the reporter) and renders its views.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use tracing::Instrument;
use uuid::Uuid;

use super::accounts::{create_account, list_accounts, remove_account};
use super::events::{list_events, show_event};
use super::health::{healthz, readyz};
use super::metrics::metrics_text;
use super::payments::{unmatched, unreadable};
use super::refunds::{cancel_refund, create_refund, get_refund, list_refunds, prepare_refund};
use super::sessions::{
    cancel_session, create_session, get_session, list_sessions, report_tx, session_timeline,
};
use super::state::AdminState;
use super::status::status;
use super::support::error::{ApiError, InternalErrorMarker, code};
use super::support::json::json_response;
use super::{idempotency, ui, webhooks};

/// Request id header, on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The admin API. The daemon serves it with [`super::AdminListener::serve`]; tests may too.
pub fn router(state: Arc<AdminState>) -> Router {
    let keyed = || middleware::from_fn_with_state(state.clone(), idempotency::layer);
    Router::new()
        .route(
            "/v1/sessions",
            post(create_session).layer(keyed()).get(list_sessions),
        )
        .route("/v1/sessions/{id}", get(get_session))
        .route("/v1/accounts", post(create_account).get(list_accounts))
        .route("/v1/accounts/{address}", delete(remove_account))
        .route("/v1/sessions/{id}/timeline", get(session_timeline))
        .route("/v1/sessions/{id}/cancel", post(cancel_session))
        .route("/v1/sessions/{id}/payments", post(report_tx).layer(keyed()))
        .route(
            "/v1/refunds",
            post(create_refund).layer(keyed()).get(list_refunds),
        )
        .route("/v1/refunds/{id}", get(get_refund))
        .route("/v1/refunds/{id}/prepare", post(prepare_refund))
        .route("/v1/refunds/{id}/cancel", post(cancel_refund))
        .route("/v1/payments/unmatched", get(unmatched::list_unmatched))
        .route(
            "/v1/payments/unmatched/{id}",
            get(unmatched::show_unmatched),
        )
        .route("/v1/payments/unreadable", get(unreadable::list))
        .route(
            "/v1/payments/unreadable/{account}/{paging_token}",
            get(unreadable::show),
        )
        .route("/v1/events", get(list_events))
        .route("/v1/events/{event_id}", get(show_event))
        .route("/v1/events/{event_id}/redeliver", post(webhooks::redeliver))
        .route("/v1/webhooks/deliveries", get(webhooks::list))
        .route("/v1/webhooks/deliveries/{id}", get(webhooks::show))
        .route("/v1/webhooks/deliveries/{id}/retry", post(webhooks::retry))
        .route("/v1/webhooks/endpoint/enable", post(webhooks::enable))
        .route("/v1/status", get(status))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        // The operator page: HTML, read-only, not part of the JSON API's contract.
        .nest_service("/ui", ui::router(&state))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(request_context))
        .with_state(state)
}

/// Outermost layer: a request id (header, log span, 500 messages), the request log line and
/// the request metrics.
async fn request_context(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = Uuid::now_v7().simple().to_string();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!(
        "admin_request",
        request_id = %request_id,
        method = %method,
        route = %route,
        session_id = tracing::field::Empty,
        tx_hash = tracing::field::Empty,
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    if response.extensions().get::<InternalErrorMarker>().is_some() {
        let error = ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL,
            format!(
                "internal server error (request id {request_id}; details are in the daemon's log)"
            ),
        );
        response = json_response(StatusCode::INTERNAL_SERVER_ERROR, &error.body());
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            duration_ms = elapsed.as_millis() as u64,
            "admin request"
        );
    });
    let labels = [
        ("method", method.to_string()),
        ("route", route),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("orbitpay_admin_requests_total", &labels).increment(1);
    metrics::histogram!("orbitpay_admin_request_duration_seconds", &labels[..2])
        .record(elapsed.as_secs_f64());
    response
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, code::NOT_FOUND, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        code::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
    )
}
