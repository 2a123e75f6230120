//! The watched accounts' request and response shapes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `POST /v1/accounts`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    /// The receiving G account (a muxed M address is refused: watch its G account).
    #[schema(
        pattern = "^G[A-Z2-7]{55}$",
        example = "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7"
    )]
    pub address: String,
    /// Where ingestion starts: `now` (default; the ledger's position when the account is added,
    /// stored then, so a restart cannot move it) or a paging token to read after.
    #[schema(pattern = "^(now|0|[1-9][0-9]{0,17})$")]
    pub start_cursor: Option<String>,
    /// A name for operators (default empty).
    #[schema(max_length = 200)]
    pub label: Option<String>,
}

/// A watched account, with how its ingestion stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    pub address: String,
    pub label: String,
    /// As it was added: `now` or a paging token.
    pub start_cursor: String,
    /// The token ingestion started after (`now` resolved when it was added; null while a
    /// config account's follower has yet to resolve it).
    pub start_token: Option<i64>,
    /// `config` or `api`.
    pub added_by: String,
    /// This instance's view: `standby`, `starting`, `catching_up`, `streaming`, `backing_off`,
    /// `halted`, `stopped`, or `not_running` (this instance runs no ingestion for it yet).
    pub state: String,
    /// Age of the last record this instance handled for it, in seconds.
    pub lag_seconds: Option<f64>,
    /// The last durably handled paging token.
    pub cursor: Option<i64>,
    /// The PostgreSQL session holding the account's leadership lock (`application_name
    /// pid@host`), null when no instance leads it.
    pub leading_instance: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountPage {
    pub data: Vec<AccountView>,
    /// Pass as `after` for the next page; null on the last one.
    pub next_after: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountParams {
    /// The `next_after` of the previous page: accounts after this address.
    #[param(pattern = "^G[A-Z2-7]{55}$")]
    pub after: Option<String>,
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemoveParams {
    /// Expire the account's pending sessions (with their `session.expired` events) and remove
    /// it. Sessions in `processing` still block the removal.
    pub expire_open: Option<bool>,
}

/// What `DELETE /v1/accounts/{address}` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RemovedView {
    pub address: String,
    /// The pending sessions expired with it (`expire_open=true`).
    pub expired_sessions: Vec<Uuid>,
}
