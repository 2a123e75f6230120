//! `/ui/webhooks`: the endpoints, dead and retrying deliveries, and the most recent attempts
//! with their status codes.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use orbitpay_store::models::{DeliveryState, WebhookDeliveryRow};
use orbitpay_store::webhook_admin;
use serde::Deserialize;

use super::{PAGE, cursor};
use crate::error::conn;
use crate::format;
use crate::{PageError, UiState};

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    dead_after: Option<i64>,
    retrying_after: Option<i64>,
    attempts_before: Option<i64>,
}

struct EndpointView {
    url: String,
    is_default: bool,
    state: String,
}

struct DeliveryView {
    id: i64,
    event_id: String,
    event_short: String,
    url: String,
    attempts: i32,
    last_status: String,
    last_error: String,
    next_attempt: String,
}

struct AttemptView {
    at: String,
    delivery_id: i64,
    url: String,
    attempt: i32,
    status: String,
    latency_ms: i32,
    error: String,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct Webhooks {
    title: &'static str,
    now: String,
    endpoints: Vec<EndpointView>,
    dead: Vec<DeliveryView>,
    dead_next: Option<String>,
    retrying: Vec<DeliveryView>,
    retrying_next: Option<String>,
    attempts: Vec<AttemptView>,
    attempts_next: Option<String>,
}

pub async fn page(
    State(state): State<Arc<UiState>>,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    let mut c = conn(&state).await?;
    let endpoints = webhook_admin::endpoints(&mut c).await?;
    let dead = webhook_admin::list(
        &mut c,
        Some(DeliveryState::Dead),
        params.dead_after.unwrap_or(0),
        PAGE,
    )
    .await?;
    let retrying =
        webhook_admin::retrying(&mut c, params.retrying_after.unwrap_or(0), PAGE).await?;
    let attempts = webhook_admin::recent_attempts(&mut c, params.attempts_before, PAGE).await?;
    drop(c);
    let next = |rows: &[WebhookDeliveryRow], key: &str, anchor: &str| {
        (rows.len() as i64 == PAGE).then(|| {
            let last = rows[rows.len() - 1].id.to_string();
            cursor::link("/ui/webhooks", &[(key, &last)]) + anchor
        })
    };
    let view = Webhooks {
        title: "Webhooks",
        now: super::now(),
        endpoints: endpoints
            .into_iter()
            .map(|e| EndpointView {
                state: match (e.disabled_at, e.disabled_reason) {
                    (Some(at), reason) => format!(
                        "disabled since {}{}",
                        format::time(at),
                        reason.map_or(String::new(), |r| format!(": {r}"))
                    ),
                    (None, _) => "enabled".to_owned(),
                },
                url: e.url,
                is_default: e.is_default,
            })
            .collect(),
        dead_next: next(&dead, "dead_after", "#dead"),
        retrying_next: next(&retrying, "retrying_after", "#retrying"),
        dead: dead.iter().map(delivery_view).collect(),
        retrying: retrying.iter().map(delivery_view).collect(),
        attempts_next: (attempts.len() as i64 == PAGE).then(|| {
            let last = attempts[attempts.len() - 1].0.id.to_string();
            cursor::link("/ui/webhooks", &[("attempts_before", &last)]) + "#attempts"
        }),
        attempts: attempts
            .into_iter()
            .map(|(a, url)| AttemptView {
                at: format::time(a.started_at),
                delivery_id: a.delivery_id,
                url,
                attempt: a.attempt,
                status: a.status.map_or("—".to_owned(), |s| s.to_string()),
                latency_ms: a.latency_ms,
                error: a.error.unwrap_or_default(),
            })
            .collect(),
    };
    super::html(&view)
}

fn delivery_view(d: &WebhookDeliveryRow) -> DeliveryView {
    DeliveryView {
        id: d.id,
        event_id: d.event_id.to_string(),
        event_short: format::short(&d.event_id.to_string()),
        url: d.url.clone(),
        attempts: d.attempts,
        last_status: d.last_status.map_or("—".to_owned(), |s| s.to_string()),
        last_error: d.last_error.clone().unwrap_or_default(),
        next_attempt: if d.state == DeliveryState::Dead {
            "—".to_owned()
        } else {
            format::time(d.next_attempt_at)
        },
    }
}
