//! The probes: `/healthz` (the process answers) and `/readyz` (it can do its work).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orbitpay_store::SchemaStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::state::AdminState;
use super::support::error::{ApiError, ErrorBody, code};
use super::support::json::json_response;

/// `/healthz` and `/readyz` when all is well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthView {
    #[schema(example = "ok")]
    pub status: String,
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
