//! `GET /v1/payments/unmatched` (and `/{id}`): money that reached a watched account but credited
//! no session.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use orbitpay_store::models::UnmatchedPaymentRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::admin::state::AdminState;
use crate::admin::support::db::with_db;
use crate::admin::support::error::{ApiError, ErrorBody};
use crate::admin::support::input::{PathParam, path_id};
use crate::admin::support::json::json_response;
use crate::admin::support::pagination::{FeedParams, FeedQuery};

/// Money that reached a watched account but credited no session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnmatchedView {
    pub id: i64,
    pub op_id: i64,
    pub tx_hash: String,
    pub account: String,
    /// 7 decimals; contract amounts may exceed int64.
    pub amount: Option<String>,
    pub asset: Option<String>,
    pub from: Option<String>,
    pub memo_type: Option<String>,
    pub memo_value: Option<String>,
    /// The exact memo bytes, base64.
    pub memo_bytes: Option<String>,
    pub muxed_id: Option<String>,
    /// Why it matched no session: `no_reference`, `unknown_reference`, `wrong_asset`,
    /// `already_paid`, `session_expired`, `session_cancelled`, `ambiguous_reference`,
    /// `unsupported_operation`, or `amount_overflow` (crediting it would take the session's
    /// amount received past int64 stroops).
    #[schema(example = "unknown_reference")]
    pub reason: String,
    pub session_id: Option<Uuid>,
    pub ledger: Option<i32>,
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The operation as the ledger source sent it (Horizon's operation record), so money that
    /// could not be interpreted can still be refunded. At most 64 KiB of JSON; above that
    /// `{"omitted": "over 64 KiB", "bytes": n}` (the operation is at the source under `op_id`).
    /// Strings holding NUL are escaped as in `memo_value`. Absent on rows from before it was kept.
    #[schema(value_type = Option<Object>)]
    pub raw_operation: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnmatchedPage {
    pub data: Vec<UnmatchedView>,
    pub next_after: Option<i64>,
}

impl From<&UnmatchedPaymentRow> for UnmatchedView {
    fn from(u: &UnmatchedPaymentRow) -> Self {
        UnmatchedView {
            id: u.id,
            op_id: u.op_id,
            tx_hash: u.tx_hash.clone(),
            account: u.account.clone(),
            amount: u.amount.map(|a| {
                orbitpay_core::ContractAmount::from_stroops(a.0)
                    .map(|c| c.to_string())
                    .unwrap_or_else(|_| format!("{} stroops", a.0))
            }),
            asset: u.asset.clone(),
            from: u.from_address.clone(),
            memo_type: u.memo_type.clone(),
            memo_value: u.memo_value.clone(),
            memo_bytes: u
                .memo_bytes
                .as_ref()
                .map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
            muxed_id: u.muxed_id.map(|m| m.0.to_string()),
            reason: u.reason.as_str().to_owned(),
            session_id: u.session_id,
            ledger: u.ledger,
            detail: u.detail.clone(),
            created_at: u.created_at,
            raw_operation: u.raw_operation.clone(),
        }
    }
}

/// Payments that credited no session, in commit order: paging with `next_after` never skips
/// a row, however concurrent writers commit. `next_after` is the last row's `id`.
#[utoipa::path(
    get, path = "/v1/payments/unmatched", tag = "operations",
    params(FeedParams),
    responses((status = 200, body = UnmatchedPage), (status = 400, description = "INVALID_REQUEST", body = ErrorBody), (status = 410, description = "UNKNOWN_CURSOR: `after` names no unmatched payment", body = ErrorBody))
)]
pub async fn list_unmatched(
    State(state): State<Arc<AdminState>>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let feed = FeedQuery::parse(&uri)?;
    let rows = with_db!(state, |conn| async {
        orbitpay_store::unmatched::list_after(conn, feed.after, feed.limit)
            .await
            .map_err(ApiError::from)
    })?;
    let (data, next_after) = feed.page("unmatched payment", rows, |r| r.id)?;
    Ok(json_response(
        StatusCode::OK,
        &UnmatchedPage { data, next_after },
    ))
}

/// One unmatched payment, by its `id`.
#[utoipa::path(
    get, path = "/v1/payments/unmatched/{id}", tag = "operations",
    params(("id" = i64, Path, description = "The unmatched payment's id")),
    responses((status = 200, body = UnmatchedView), (status = 404, description = "NOT_FOUND", body = ErrorBody))
)]
pub async fn show_unmatched(
    State(state): State<Arc<AdminState>>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let id: i64 = path_id("unmatched payment", &id)?;
    let row = with_db!(state, |conn| async {
        orbitpay_store::unmatched::find(conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("unmatched payment {id}")))
    })?;
    Ok(json_response(StatusCode::OK, &UnmatchedView::from(&row)))
}
