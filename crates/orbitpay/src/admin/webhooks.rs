//! The webhook queue for operators: what is owed, what died and why (each attempt's status,
//! latency, error and response snippet), and the three ways to put things right: retry a dead
//! delivery, redeliver an event, re-enable an endpoint after a 410.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use orbitpay_store::deliveries::{self, AttemptRow};
use orbitpay_store::models::{DeliveryState, WebhookDeliveryRow};
use orbitpay_store::webhook_admin::{self, Retried};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AdminState;
use super::body;
use super::error::{ApiError, ErrorBody, code, json_response};
use super::requests::{next_after, page_limit, query};
use super::router::conn;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Only deliveries in this state: pending, delivering, delivered or dead.
    pub status: Option<String>,
    /// The `next_after` of the previous page (default 0: from the start).
    pub after: Option<i64>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<i64>,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    /// The event, also the `webhook-id` header.
    pub event_id: Uuid,
    pub url: String,
    #[schema(example = "pending")]
    pub status: String,
    /// Attempts since creation or the last admin retry.
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub retried_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub latency_ms: i32,
    /// The HTTP status; absent when no response came (timeout, refused, dropped).
    pub status: Option<i32>,
    pub error: Option<String>,
    /// The first KiB of the response body.
    pub response_snippet: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: DeliveryView,
    pub attempts_made: Vec<AttemptView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryPage {
    pub data: Vec<DeliveryView>,
    pub next_after: Option<i64>,
}

/// `POST /v1/webhooks/endpoint/enable` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnableRequest {
    /// The endpoint; default: the configured `webhooks.url`.
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EnableView {
    pub url: String,
    /// False when it was not disabled.
    pub was_disabled: bool,
}

impl From<&WebhookDeliveryRow> for DeliveryView {
    fn from(d: &WebhookDeliveryRow) -> Self {
        DeliveryView {
            id: d.id,
            event_id: d.event_id,
            url: d.url.clone(),
            status: d.state.as_str().to_owned(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            delivered_at: d.delivered_at,
            created_at: d.created_at,
            retried_at: d.retried_at,
        }
    }
}

impl From<&AttemptRow> for AttemptView {
    fn from(a: &AttemptRow) -> Self {
        AttemptView {
            attempt: a.attempt,
            started_at: a.started_at,
            latency_ms: a.latency_ms,
            status: a.status,
            error: a.error.clone(),
            response_snippet: a.response_snippet.clone(),
        }
    }
}

fn not_found(what: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        code::NOT_FOUND,
        format!("{what} not found"),
    )
}

/// Webhook deliveries, oldest first.
#[utoipa::path(
    get, path = "/v1/webhooks/deliveries", tag = "webhooks",
    params(DeliveryParams),
    responses((status = 200, body = DeliveryPage), (status = 400, description = "INVALID_REQUEST", body = ErrorBody))
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
    let mut conn = conn(&state).await?;
    let rows = webhook_admin::list(&mut conn, status, params.after.unwrap_or(0), limit).await?;
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
    responses((status = 200, body = DeliveryDetail), (status = 404, description = "NOT_FOUND", body = ErrorBody))
)]
pub async fn show(
    State(state): State<Arc<AdminState>>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let mut conn = conn(&state).await?;
    let row = webhook_admin::find(&mut conn, id)
        .await?
        .ok_or_else(|| not_found(format!("delivery {id}")))?;
    let attempts = deliveries::attempts(&mut conn, id).await?;
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
        (status = 404, description = "NOT_FOUND", body = ErrorBody),
        (status = 409, description = "INVALID_DELIVERY_STATE: only a dead delivery is retried", body = ErrorBody)
    )
)]
pub async fn retry(
    State(state): State<Arc<AdminState>>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let mut conn = conn(&state).await?;
    match webhook_admin::retry(&mut conn, id).await? {
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
        Retried::NotFound => Err(not_found(format!("delivery {id}"))),
    }
}

/// Sends an event again (same `webhook-id`): its delivered or dead deliveries go back to
/// pending, and an event that had no endpoint when written goes to today's.
#[utoipa::path(
    post, path = "/v1/events/{id}/redeliver", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Event id")),
    responses((status = 200, body = DeliveryPage), (status = 404, description = "NOT_FOUND", body = ErrorBody))
)]
pub async fn redeliver(
    State(state): State<Arc<AdminState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let event_id: Uuid = id
        .parse()
        .map_err(|_| ApiError::bad_request(code::INVALID_REQUEST, "the event id is a UUID"))?;
    let mut conn = conn(&state).await?;
    let rows = webhook_admin::redeliver_event(&mut conn, event_id)
        .await?
        .ok_or_else(|| not_found(format!("event {event_id}")))?;
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
    request_body = EnableRequest,
    responses((status = 200, body = EnableView), (status = 400, description = "INVALID_REQUEST: no url and no default endpoint", body = ErrorBody))
)]
pub async fn enable(
    State(state): State<Arc<AdminState>>,
    headers: axum::http::HeaderMap,
    raw: axum::body::Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(&headers, raw, state.body_timeout).await?;
    let req: EnableRequest = if bytes.is_empty() {
        EnableRequest { url: None }
    } else {
        body::parse(&bytes)?
    };
    let url = req
        .url
        .or_else(|| state.webhook_url.clone())
        .ok_or_else(|| {
            ApiError::bad_request(
                code::INVALID_REQUEST,
                "no url given and no webhooks.url configured",
            )
        })?;
    let mut conn = conn(&state).await?;
    let was_disabled = deliveries::enable_endpoint(&mut conn, &url).await?;
    if was_disabled {
        deliveries::notify(&mut conn).await?;
        tracing::info!(url = %url, "webhook endpoint re-enabled by an admin");
    }
    Ok(json_response(
        StatusCode::OK,
        &EnableView { url, was_disabled },
    ))
}
