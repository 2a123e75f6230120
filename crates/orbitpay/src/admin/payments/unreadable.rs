//! `GET /v1/payments/unreadable` (and `/{account}/{paging_token}`): ledger records stored because they could not be read on
//! any attempt. Each may hold a payment nobody has credited yet; the reconciliation job
//! resolves them, and this is where an operator sees what is waiting.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use orbitpay_core::{AccountId, toid};
use orbitpay_store::models::UnreadableRecordRow;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::admin::state::AdminState;
use crate::admin::support::db::with_db;
use crate::admin::support::error::{ApiError, ErrorBody, code};
use crate::admin::support::input::{PathParam, path_id, query};
use crate::admin::support::json::json_response;
use crate::admin::support::pagination::page_limit;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnreadableParams {
    /// Only this watched account's records (a G address; one that is not is 400).
    #[param(pattern = "^G[A-Z2-7]{55}$")]
    pub account: Option<String>,
    /// How many, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A record that could not be read; the cursor moved past it when it was stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnreadableView {
    pub account: String,
    /// Horizon's paging token: the operation id.
    pub paging_token: i64,
    /// The ledger the token points into.
    pub ledger: u32,
    /// The record as received (at most 64 KiB), base64.
    pub raw: String,
    pub raw_truncated: bool,
    /// Why it could not be read, as of the last attempt.
    pub parse_error: String,
    /// Reads that found it unreadable.
    pub attempts: i32,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// When reconciliation read it and credited it; null while it waits (always, in the list).
    pub resolved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnreadablePage {
    pub data: Vec<UnreadableView>,
}

impl From<&UnreadableRecordRow> for UnreadableView {
    fn from(r: &UnreadableRecordRow) -> Self {
        UnreadableView {
            account: r.account.clone(),
            paging_token: r.paging_token,
            ledger: toid::ledger(r.paging_token),
            raw: base64::engine::general_purpose::STANDARD.encode(&r.raw),
            raw_truncated: r.raw_truncated,
            parse_error: r.parse_error.clone(),
            attempts: r.attempts,
            first_seen: r.first_seen,
            last_seen: r.last_seen,
            resolved_at: r.resolved_at,
        }
    }
}

/// Unresolved unreadable records, oldest first (the first `limit`; resolve some to see more).
#[utoipa::path(
    get, path = "/v1/payments/unreadable", tag = "operations",
    params(UnreadableParams),
    responses((status = 200, body = UnreadablePage), (status = 400, description = "INVALID_REQUEST", body = ErrorBody))
)]
pub async fn list(State(state): State<Arc<AdminState>>, uri: Uri) -> Result<Response, ApiError> {
    let params: UnreadableParams = query(&uri)?;
    let limit = page_limit(params.limit)?;
    let account = params.account.as_deref().map(account_id).transpose()?;
    let rows = with_db!(state, |conn| async {
        orbitpay_store::unreadable::list_unresolved(conn, account.as_ref(), limit)
            .await
            .map_err(ApiError::from)
    })?;
    let data = rows.iter().map(UnreadableView::from).collect();
    Ok(json_response(StatusCode::OK, &UnreadablePage { data }))
}

/// One record, resolved or not, by its account and paging token.
#[utoipa::path(
    get, path = "/v1/payments/unreadable/{account}/{paging_token}", tag = "operations",
    params(
        ("account" = String, Path, description = "The watched account (G)"),
        ("paging_token" = i64, Path, description = "Horizon's paging token: the operation id"),
    ),
    responses((status = 200, body = UnreadableView), (status = 404, description = "NOT_FOUND (an account that is not a G address, or a token that is not an int64, names nothing either)", body = ErrorBody))
)]
pub async fn show(
    State(state): State<Arc<AdminState>>,
    PathParam((account, paging_token)): PathParam<(String, String)>,
) -> Result<Response, ApiError> {
    let account: AccountId = path_id("unreadable records of account", &account)?;
    let paging_token: i64 = path_id("unreadable record", &paging_token)?;
    let row = with_db!(state, |conn| async {
        orbitpay_store::unreadable::find(conn, &account, paging_token)
            .await?
            .ok_or_else(|| {
                ApiError::not_found(format!("unreadable record {paging_token} of {account}"))
            })
    })?;
    Ok(json_response(StatusCode::OK, &UnreadableView::from(&row)))
}

fn account_id(raw: &str) -> Result<AccountId, ApiError> {
    raw.parse::<AccountId>().map_err(|_| {
        ApiError::bad_request(
            code::INVALID_REQUEST,
            format!(
                "account {:?} is not a G address",
                raw.chars().take(64).collect::<String>()
            ),
        )
    })
}
