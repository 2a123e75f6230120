//! The feeds: the outbox's events and the payments that credited no session.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use orbitpay_store::outbox;

use super::AdminState;
use super::error::{ApiError, ErrorBody, code, json_response};
use super::requests::{FeedParams, next_after, page_limit, query};
use super::router::conn;
use super::views::{EventPage, EventView, UnmatchedPage, UnmatchedView};

/// Payments that credited no session, oldest first.
#[utoipa::path(
    get, path = "/v1/payments/unmatched", tag = "operations",
    params(FeedParams),
    responses((status = 200, body = UnmatchedPage), (status = 400, description = "INVALID_REQUEST", body = ErrorBody))
)]
pub async fn list_unmatched(
    State(state): State<Arc<AdminState>>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params: FeedParams = query(&uri)?;
    let limit = page_limit(params.limit)?;
    let mut conn = conn(&state).await?;
    let rows =
        orbitpay_store::unmatched::list_after(&mut conn, params.after.unwrap_or(0), limit).await?;
    let next_after = next_after(&rows, limit, |r| r.id);
    let data = rows.iter().map(UnmatchedView::from).collect();
    Ok(json_response(
        StatusCode::OK,
        &UnmatchedPage { data, next_after },
    ))
}

/// The outbox event feed in commit order: paging with `next_after` never skips an event,
/// however concurrent writers commit. `next_after` is the last event's `id`, not a count.
#[utoipa::path(
    get, path = "/v1/events", tag = "operations",
    params(FeedParams),
    responses((status = 200, body = EventPage), (status = 400, description = "INVALID_REQUEST", body = ErrorBody), (status = 410, description = "UNKNOWN_CURSOR: `after` names no event", body = ErrorBody))
)]
pub async fn list_events(
    State(state): State<Arc<AdminState>>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params: FeedParams = query(&uri)?;
    let limit = page_limit(params.limit)?;
    let mut conn = conn(&state).await?;
    let rows = outbox::list_after(&mut conn, params.after.unwrap_or(0), limit)
        .await?
        .map_err(|outbox::FeedError::UnknownCursor(after)| {
            ApiError::new(
                StatusCode::GONE,
                code::UNKNOWN_CURSOR,
                format!(
                    "no event {after} in the feed (pruned, or never one): restart from after=0"
                ),
            )
        })?;
    let next_after = next_after(&rows, limit, |r| r.id);
    let data = rows.iter().map(EventView::from).collect();
    Ok(json_response(
        StatusCode::OK,
        &EventPage { data, next_after },
    ))
}
