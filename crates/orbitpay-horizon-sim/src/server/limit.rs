//! The rate limit as HTTP: headers on every REST answer, a 429 problem over the limit.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use super::delivery::problem_response;
use crate::HorizonSim;
use crate::render::Problem;

pub(super) async fn rate_limit(
    State(sim): State<HorizonSim>,
    request: Request,
    next: Next,
) -> Response {
    let streaming = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    let Some(verdict) = (!streaming).then(|| sim.take_rate_limit()).flatten() else {
        return next.run(request).await;
    };
    let mut response = if verdict.allowed {
        next.run(request).await
    } else {
        let mut r = problem_response(&Problem::rate_limited());
        r.headers_mut()
            .insert(header::RETRY_AFTER, verdict.retry_after_secs.into());
        r
    };
    let h: &mut HeaderMap = response.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(verdict.limit));
    h.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(verdict.remaining),
    );
    h.insert("x-ratelimit-reset", HeaderValue::from(verdict.reset_secs));
    response
}
