//! `GET /v1/status`: version, the accounts' ingestion in summary (counts by state and the
//! accounts not following, capped: the full list is `GET /v1/accounts`), session counts and
//! outbox depth.

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
    pub accounts: AccountsSummary,
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

/// At most this many accounts are listed in `/v1/status`'s `not_following`; the rest are counted.
pub const NOT_FOLLOWING_MAX: usize = 20;

/// Every state an account can be in on an instance's board.
pub const ACCOUNT_STATES: &[&str] = &[
    "standby",
    "starting",
    "catching_up",
    "streaming",
    "backing_off",
    "halted",
    "stopped",
];

/// This instance's view of the watched accounts, bounded whatever their number.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AccountsSummary {
    /// Watched accounts this instance knows of.
    pub total: usize,
    /// Those it leads (halted ones included); the others are `standby`.
    pub leading: usize,
    /// Accounts per state (every state, 0 when none).
    #[schema(value_type = BTreeMap<String, usize>)]
    pub by_state: BTreeMap<String, usize>,
    /// The largest lag among the accounts this instance ingests.
    pub max_lag_seconds: Option<f64>,
    /// Accounts that are not simply following (halted, then retrying, then catching up, then
    /// flagged with a gap or a reset), each with its reason; at most 20 (`not_following_omitted`
    /// counts the rest).
    pub not_following: Vec<AccountStatus>,
    pub not_following_omitted: usize,
}

impl AccountsSummary {
    /// Counts `accounts` by state and keeps the first `cap` of those not following, the most
    /// serious first.
    pub fn of(accounts: Vec<AccountStatus>, cap: usize) -> AccountsSummary {
        let mut by_state: BTreeMap<String, usize> = ACCOUNT_STATES
            .iter()
            .map(|s| ((*s).to_owned(), 0))
            .collect();
        let mut leading = 0;
        let mut max_lag: Option<f64> = None;
        let mut not_following = Vec::new();
        for a in accounts {
            *by_state.entry(a.state.clone()).or_default() += 1;
            if !matches!(a.state.as_str(), "standby" | "stopped") {
                leading += 1;
                if let Some(l) = a.lag_seconds {
                    max_lag = Some(max_lag.map_or(l, |m| m.max(l)));
                }
            }
            if let Some(rank) = a.attention() {
                not_following.push((rank, a));
            }
        }
        let total = by_state.values().sum();
        // Stable: within a rank, the board's (address) order.
        not_following.sort_by_key(|(rank, _)| *rank);
        let omitted = not_following.len().saturating_sub(cap);
        not_following.truncate(cap);
        AccountsSummary {
            total,
            leading,
            by_state,
            max_lag_seconds: max_lag,
            not_following: not_following.into_iter().map(|(_, a)| a).collect(),
            not_following_omitted: omitted,
        }
    }
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

/// Version, the accounts in summary, session counts and outbox depth.
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
        accounts: AccountsSummary::of(state.ingest.accounts(), NOT_FOLLOWING_MAX),
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
