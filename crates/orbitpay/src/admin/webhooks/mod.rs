//! The webhook queue for operators: what is owed, what died and why (each attempt's status,
//! latency, error and response snippet), and the three ways to put things right: retry a dead
//! delivery, redeliver an event, re-enable an endpoint after a 410.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use orbitpay_store::deliveries::{self};
use orbitpay_store::models::DeliveryState;
use orbitpay_store::webhook_admin::{self, Retried};
use uuid::Uuid;

use super::state::AdminState;
use super::support::body;
use super::support::db::with_db;
use super::support::error::{ApiError, ErrorBody, code};
use super::support::input::{PathParam, path_id, query};
use super::support::json::json_response;
use super::support::pagination::{feed_after, next_after, page_limit};

mod json;

pub use json::{
    AttemptView, DeliveryDetail, DeliveryPage, DeliveryParams, DeliveryStateSchema,
    DeliveryStatusView, DeliveryView, EnableRequest, EnableView,
};

/// Webhook deliveries, oldest first.
#[utoipa::path(
    get, path = "/v1/webhooks/deliveries", tag = "webhooks",
    params(DeliveryParams),
    responses((status = 200, body = DeliveryPage, links(
        ("show" = (operation_id = "show", parameters(("id" = "$response.body#/data/0/id")))),
        ("retry" = (operation_id = "retry", parameters(("id" = "$response.body#/data/0/id")))),
    )), (status = 400, description = "INVALID_REQUEST", body = ErrorBody))
)]
pub async fn list(State(state): State<Arc<AdminState>>, uri: Uri) -> Result<Response, ApiError> {
    let params: DeliveryParams = query(&uri)?;
    let limit = page_limit(params.limit)?;
    let status = params
        .status
        .map(|s| {
            DeliveryState::ALL
                .into_iter()
                .find(|d| d.as_str() == s)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        code::INVALID_REQUEST,
                        "status must be pending, delivering, delivered or dead",
                    )
                })
        })
        .transpose()?;
    let after = feed_after(params.after)?;
    let rows = with_db!(state, |conn| async {
        webhook_admin::list(conn, status, after, limit)
            .await
            .map_err(ApiError::from)
    })?;
    let next_after = next_after(&rows, limit, |r| r.id);
    let data = rows.iter().map(DeliveryView::from).collect();
    Ok(json_response(
        StatusCode::OK,
        &DeliveryPage { data, next_after },
    ))
}

/// One delivery with every attempt made.
#[utoipa::path(
    get, path = "/v1/webhooks/deliveries/{id}", tag = "webhooks",
    params(("id" = i64, Path, description = "Delivery id")),
    responses((status = 200, body = DeliveryDetail), (status = 404, description = "NOT_FOUND (an id that is not an int64 names nothing either)", body = ErrorBody))
)]
pub async fn show(
    State(state): State<Arc<AdminState>>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let id: i64 = path_id("delivery", &id)?;
    let (row, attempts) = with_db!(state, |conn| async {
        let row = webhook_admin::find(conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("delivery {id}")))?;
        let attempts = deliveries::attempts(conn, id).await?;
        Ok::<_, ApiError>((row, attempts))
    })?;
    Ok(json_response(
        StatusCode::OK,
        &DeliveryDetail {
            delivery: DeliveryView::from(&row),
            attempts_made: attempts.iter().map(AttemptView::from).collect(),
        },
    ))
}

/// A dead delivery back to pending, due now, with a fresh retry budget.
#[utoipa::path(
    post, path = "/v1/webhooks/deliveries/{id}/retry", tag = "webhooks",
    params(("id" = i64, Path, description = "Delivery id")),
    responses(
        (status = 200, body = DeliveryView),
        (status = 404, description = "NOT_FOUND (an id that is not an int64 names nothing either)", body = ErrorBody),
        (status = 409, description = "INVALID_DELIVERY_STATE: only a dead delivery is retried", body = ErrorBody)
    )
)]
pub async fn retry(
    State(state): State<Arc<AdminState>>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let id: i64 = path_id("delivery", &id)?;
    let retried = with_db!(state, |conn| async {
        webhook_admin::retry(conn, id).await.map_err(ApiError::from)
    })?;
    match retried {
        Retried::Queued(row) => {
            tracing::info!(delivery_id = id, event_id = %row.event_id, "webhook delivery retried by an admin");
            Ok(json_response(StatusCode::OK, &DeliveryView::from(&row)))
        }
        Retried::NotDead(s) => Err(ApiError::new(
            StatusCode::CONFLICT,
            code::INVALID_DELIVERY_STATE,
            format!(
                "only a dead delivery is retried; this one is {}",
                s.as_str()
            ),
        )),
        Retried::NotFound => Err(ApiError::not_found(format!("delivery {id}"))),
    }
}

/// Sends an event again (same `webhook-id`): its delivered or dead deliveries go back to
/// pending, and an event that had no endpoint when written goes to today's.
#[utoipa::path(
    post, path = "/v1/events/{event_id}/redeliver", tag = "webhooks",
    params(("event_id" = Uuid, Path, description = "The event's `event_id` (a UUID, also the webhook's `webhook-id`), not its feed position `id`")),
    responses((status = 200, body = DeliveryPage, links(
        ("show" = (operation_id = "show", parameters(("id" = "$response.body#/data/0/id")))),
        ("retry" = (operation_id = "retry", parameters(("id" = "$response.body#/data/0/id")))),
    )), (status = 404, description = "NOT_FOUND (pruned, never one, or not a UUID)", body = ErrorBody))
)]
pub async fn redeliver(
    State(state): State<Arc<AdminState>>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let event_id: Uuid = path_id("event", &id)?;
    let rows = with_db!(state, |conn| async {
        webhook_admin::redeliver_event(conn, event_id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("event {event_id}")))
    })?;
    tracing::info!(event_id = %event_id, deliveries = rows.len(), "event redelivered by an admin");
    let data = rows.iter().map(DeliveryView::from).collect();
    Ok(json_response(
        StatusCode::OK,
        &DeliveryPage {
            data,
            next_after: None,
        },
    ))
}

/// Re-enables an endpoint that a 410 Gone disabled; its waiting deliveries resume.
#[utoipa::path(
    post, path = "/v1/webhooks/endpoint/enable", tag = "webhooks",
    request_body(content = Option<EnableRequest>, description = "Optional: no body enables the default endpoint"),
    responses(
        (status = 200, body = EnableView),
        (status = 400, description = "INVALID_REQUEST: no url and no default endpoint; ERROR_BAD_JSON", body = ErrorBody),
        (status = 408, description = "REQUEST_TIMEOUT: the body did not arrive in time", body = ErrorBody),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorBody),
    )
)]
pub async fn enable(
    State(state): State<Arc<AdminState>>,
    headers: axum::http::HeaderMap,
    raw: axum::body::Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(&headers, raw, state.body_timeout).await?;
    // No body, `null` and `{}` all mean the default endpoint.
    let req: Option<EnableRequest> = if bytes.is_empty() {
        None
    } else {
        body::parse(&bytes)?
    };
    let url = req
        .and_then(|r| r.url)
        .or_else(|| state.webhook_url.clone())
        .ok_or_else(|| {
            ApiError::bad_request(
                code::INVALID_REQUEST,
                "no url given and no webhooks.url configured",
            )
        })?;
    let was_disabled = with_db!(state, |conn| async {
        let was_disabled = deliveries::enable_endpoint(conn, &url).await?;
        if was_disabled {
            deliveries::notify(conn).await?;
        }
        Ok::<_, ApiError>(was_disabled)
    })?;
    if was_disabled {
        tracing::info!(url = %url, "webhook endpoint re-enabled by an admin");
    }
    Ok(json_response(
        StatusCode::OK,
        &EnableView { url, was_disabled },
    ))
}
