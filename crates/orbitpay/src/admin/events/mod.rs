//! `GET /v1/events`: the outbox event feed, one event by id, and the webhook body's schema
//! ([`schema`]).

mod json;
pub mod schema;

pub use json::{EventDetail, EventPage, EventView};

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use orbitpay_store::{outbox, timeline};
use uuid::Uuid;

use crate::admin::state::AdminState;
use crate::admin::support::db::with_db;
use crate::admin::support::error::{ApiError, ErrorBody};
use crate::admin::support::input::{PathParam, path_id};
use crate::admin::support::json::json_response;
use crate::admin::support::pagination::{FeedParams, FeedQuery};
use crate::admin::webhooks::DeliveryStatusView;

/// The outbox event feed in commit order: paging with `next_after` never skips an event,
/// however concurrent writers commit. `next_after` is the last event's `id`, not a count.
#[utoipa::path(
    get, path = "/v1/events", tag = "operations",
    params(FeedParams),
    responses((status = 200, body = EventPage, links(
        ("redeliver" = (operation_id = "redeliver", parameters(("event_id" = "$response.body#/data/0/event_id")))),
    )), (status = 400, description = "INVALID_REQUEST", body = ErrorBody), (status = 410, description = "UNKNOWN_CURSOR: `after` names no event", body = ErrorBody))
)]
pub async fn list_events(
    State(state): State<Arc<AdminState>>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let feed = FeedQuery::parse(&uri)?;
    let rows = with_db!(state, |conn| async {
        outbox::list_after(conn, feed.after, feed.limit)
            .await
            .map_err(ApiError::from)
    })?;
    let (data, next_after) = feed.page("event", rows, |r| r.id)?;
    Ok(json_response(
        StatusCode::OK,
        &EventPage { data, next_after },
    ))
}

/// One event, by its id (the `webhook-id`), with its deliveries and each one's last attempt.
#[utoipa::path(
    get, path = "/v1/events/{event_id}", tag = "operations",
    params(("event_id" = Uuid, Path, description = "The event's `event_id` (a UUID, also the webhook's `webhook-id`), not its feed position `id`")),
    responses((status = 200, body = EventDetail), (status = 404, description = "NOT_FOUND (pruned, never one, or not a UUID)", body = ErrorBody))
)]
pub async fn show_event(
    State(state): State<Arc<AdminState>>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let event_id: Uuid = path_id("event", &id)?;
    let (event, deliveries) = with_db!(state, |conn| async {
        let event = outbox::find(conn, event_id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("event {event_id}")))?;
        let deliveries = timeline::deliveries_of(conn, &[event_id]).await?;
        Ok::<_, ApiError>((event, deliveries))
    })?;
    Ok(json_response(
        StatusCode::OK,
        &EventDetail {
            event: EventView::from(&event),
            deliveries: deliveries.iter().map(DeliveryStatusView::from).collect(),
        },
    ))
}
