//! `GET /v1/status`: version, ingestion per account, session counts and outbox depth.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use orbitpay_store::outbox;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::state::{AccountStatus, AdminState};
use super::support::db::with_db;
use super::support::error::ApiError;
use super::support::json::json_response;

/// The daemon's status.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StatusView {
    pub version: String,
    pub accounts: Vec<AccountStatus>,
    /// Network mode, while this instance leads the network: its one follower. Absent in
    /// per-account mode and on a standby.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<super::NetworkStatus>,
    /// Sessions per status.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub sessions: BTreeMap<String, i64>,
    /// `processing` sessions by where their claim came from (`stream`, `client_report`): client claims
    /// piling up mean a wallet reports hashes that do not land (recovery releases them).
    #[schema(value_type = BTreeMap<String, i64>)]
    pub claims: BTreeMap<String, i64>,
    pub outbox: OutboxView,
    /// The periodic jobs' last runs in this instance.
    pub jobs: Vec<super::JobRunView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OutboxView {
    /// Webhook deliveries still owed.
    pub undelivered: i64,
    /// Age of the oldest, in seconds.
    pub oldest_age_seconds: f64,
    /// Deliveries that ran out of attempts: `orbitpay webhooks list --status dead`.
    pub dead: i64,
}

/// Version, ingestion per account, session counts and outbox depth.
#[utoipa::path(get, path = "/v1/status", tag = "operations", responses((status = 200, body = StatusView)))]
pub async fn status(State(state): State<Arc<AdminState>>) -> Result<Response, ApiError> {
    let (counts, depth, claims) = with_db!(state, |conn| async {
        let counts = orbitpay_store::stats::session_counts(conn).await?;
        let depth = outbox::depth(conn).await?;
        let claims = orbitpay_store::stats::claim_counts(conn).await?;
        Ok::<_, ApiError>((counts, depth, claims))
    })?;
    let view = StatusView {
        version: state.version.clone(),
        accounts: state.ingest.accounts(),
        network: state.ingest.network(),
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
