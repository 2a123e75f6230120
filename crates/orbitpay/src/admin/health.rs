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
    match unled(&state).await {
        Ok(unled) if !unled.is_empty() => {
            return not_ready(format!(
                "{} watched accounts have had no leader for over {}s: {}",
                unled.len(),
                state.unled_unready_after.as_secs(),
                unled
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "readiness: cannot read the watched accounts' leaders");
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

/// The watched accounts no instance has led (no holder of their advisory lock in
/// `pg_locks`) for longer than `unled_unready_after`, as this instance's probes have seen them;
/// in network mode, `network` when the network's lock has had no holder that long.
async fn unled(state: &AdminState) -> Result<Vec<String>, orbitpay_store::StoreError> {
    let mut conn = state.pool.get().await?;
    let watched = orbitpay_store::accounts::all(&mut conn).await?;
    let keys: Vec<(i64, String)> = if state.network_mode {
        // One lock leads them all: the network's.
        let network = orbitpay_store::cursors::NETWORK.to_owned();
        (!watched.is_empty())
            .then(|| (crate::leader::network_lock_key(), network))
            .into_iter()
            .collect()
    } else {
        watched
            .iter()
            .filter_map(|r| {
                r.address
                    .parse::<orbitpay_core::AccountId>()
                    .ok()
                    .map(|a| (crate::leader::lock_key(&a), r.address.clone()))
            })
            .collect()
    };
    let key_list: Vec<i64> = keys.iter().map(|(k, _)| *k).collect();
    let held: std::collections::HashSet<i64> =
        orbitpay_store::accounts::lock_holders(&mut conn, &key_list)
            .await?
            .into_iter()
            .map(|h| h.key)
            .collect();
    let now = std::time::Instant::now();
    let mut since = state.unled_since.lock().unwrap_or_else(|e| e.into_inner());
    since.retain(|address, _| keys.iter().any(|(k, a)| a == address && !held.contains(k)));
    let mut over = Vec::new();
    for (key, address) in &keys {
        if held.contains(key) {
            continue;
        }
        let first = *since.entry(address.clone()).or_insert(now);
        if now.duration_since(first) > state.unled_unready_after {
            over.push(address.clone());
        }
    }
    Ok(over)
}
