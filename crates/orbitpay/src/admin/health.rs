//! Status, probes and metrics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orbitpay_store::SchemaStatus;
use orbitpay_store::outbox;

use super::AdminState;
use super::error::{ApiError, ErrorBody, code, json_response};
use super::router::conn;
use super::views::{HealthView, OutboxView, StatusView};

/// Version, ingestion per account, session counts and outbox depth.
#[utoipa::path(get, path = "/v1/status", tag = "operations", responses((status = 200, body = StatusView)))]
pub async fn status(State(state): State<Arc<AdminState>>) -> Result<Response, ApiError> {
    let mut conn = conn(&state).await?;
    let counts = orbitpay_store::stats::session_counts(&mut conn).await?;
    let depth = outbox::depth(&mut conn).await?;
    let claims = orbitpay_store::stats::claim_counts(&mut conn).await?;
    drop(conn);
    let view = StatusView {
        version: state.version.clone(),
        accounts: state.ingest.accounts(),
        sessions: counts
            .into_iter()
            .map(|(s, n)| (s.as_str().to_owned(), n))
            .collect(),
        claims: claims
            .into_iter()
            .map(|(s, n)| (s.as_str().to_owned(), n))
            .collect(),
        outbox: OutboxView {
            undelivered: depth.undelivered,
            oldest_age_seconds: depth.oldest_age_seconds,
            dead: depth.dead,
        },
        jobs: state.ingest.jobs(),
    };
    Ok(json_response(StatusCode::OK, &view))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = HealthView)))]
pub async fn healthz() -> Response {
    json_response(
        StatusCode::OK,
        &HealthView {
            status: "ok".to_owned(),
        },
    )
}

/// Ready to serve: the database answers, its schema is current, and no account's ingestion
/// is halted.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses((status = 200, body = HealthView), (status = 503, description = "NOT_READY", body = ErrorBody))
)]
pub async fn readyz(State(state): State<Arc<AdminState>>) -> Response {
    let not_ready = |msg: String| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code::NOT_READY, msg).into_response()
    };
    let schema = async {
        let mut conn = state.pool.get().await.map_err(|e| e.to_string())?;
        orbitpay_store::pending_or_unknown(&mut conn)
            .await
            .map_err(|e| e.to_string())
    };
    match schema.await {
        Ok(SchemaStatus::Current) => {}
        Ok(SchemaStatus::Behind { pending }) => {
            return not_ready(format!(
                "database migrations pending: {}",
                pending.join(", ")
            ));
        }
        Ok(SchemaStatus::Newer { unknown }) => {
            return not_ready(format!(
                "database schema is newer than this binary: {}",
                unknown.join(", ")
            ));
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            return not_ready("database unreachable".to_owned());
        }
    }
    let accounts = state.ingest.accounts();
    let halted: Vec<String> = accounts
        .iter()
        .filter(|a| a.is_halted())
        .map(|a| a.account.to_string())
        .collect();
    if !halted.is_empty() {
        return not_ready(format!("ingestion halted for {}", halted.join(", ")));
    }
    let now = chrono::Utc::now();
    let stuck: Vec<String> = accounts
        .iter()
        .filter_map(|a| {
            let for_ = a.retrying_for(now)?;
            (for_ > state.retrying_unready_after).then(|| {
                format!(
                    "{} for {}s ({})",
                    a.account,
                    for_.as_secs(),
                    a.reason.as_deref().unwrap_or("unknown")
                )
            })
        })
        .collect();
    if !stuck.is_empty() {
        return not_ready(format!("ingestion retrying: {}", stuck.join(", ")));
    }
    json_response(
        StatusCode::OK,
        &HealthView {
            status: "ready".to_owned(),
        },
    )
}

/// Prometheus metrics, text exposition format.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String))
)]
pub async fn metrics_text(State(state): State<Arc<AdminState>>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
