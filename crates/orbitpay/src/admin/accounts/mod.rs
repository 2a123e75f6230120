//! The watched accounts as data: add one (`POST /v1/accounts`, idempotent on its body), list
//! them with how their ingestion stands, remove one. A change is a row in `watched_accounts`;
//! the store's `accounts` module holds the rules (the start written as the cursor at once, open
//! sessions blocking a removal).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use orbitpay_core::AccountId;
use orbitpay_store::accounts::{self, AddedBy, Created, NewAccount, Removed};
use orbitpay_store::models::WatchedAccountRow;

use super::state::AdminState;
use super::support::body;
use super::support::db::with_db;
use super::support::error::{ApiError, ErrorBody, code};
use super::support::input::{PathParam, query, reject_nul};
use super::support::json::json_response;
use super::support::pagination::{next_after, page_limit};

mod json;

pub use json::{
    AccountPage, AccountParams, AccountView, CreateAccountRequest, RemoveParams, RemovedView,
};

/// Longest label accepted.
const MAX_LABEL: usize = 200;
/// Largest paging token accepted as a start (18 digits: always an i64).
const MAX_TOKEN_DIGITS: usize = 18;

/// Watch an account.
#[utoipa::path(
    post, path = "/v1/accounts", tag = "accounts",
    request_body = CreateAccountRequest,
    responses(
        (status = 201, description = "Added", body = AccountView),
        (status = 200, description = "Already watched with the same body: nothing changed", body = AccountView),
        (status = 400, description = "ERROR_BAD_JSON, INVALID_ACCOUNT (not a G address, or a muxed M address), INVALID_REQUEST (start_cursor, label), INVALID_CHARACTER", body = ErrorBody),
        (status = 408, description = "REQUEST_TIMEOUT: the body did not arrive in time", body = ErrorBody),
        (status = 409, description = "ACCOUNT_EXISTS: watched already with another start or label; nothing changed", body = ErrorBody),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorBody),
        (status = 503, description = "LEDGER_UNAVAILABLE: `now` needs the ledger's position and it did not answer; DATABASE_UNAVAILABLE", body = ErrorBody),
    )
)]
pub async fn create_account(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(&headers, body, state.body_timeout).await?;
    let req: CreateAccountRequest = body::parse(&bytes)?;
    let address = parse_address(&req.address)?;
    let label = req.label.unwrap_or_default();
    reject_nul("label", &label)?;
    if label.chars().count() > MAX_LABEL {
        return Err(ApiError::bad_request(
            code::INVALID_REQUEST,
            format!("label must be at most {MAX_LABEL} characters"),
        ));
    }
    let start_cursor = req.start_cursor.unwrap_or_else(|| "now".to_owned());
    let explicit = parse_start(&start_cursor)?;
    // A repeat of an add answers without asking the ledger (and whatever "now" is by then).
    let existing = with_db!(state, |conn| async {
        accounts::find(conn, &address).await.map_err(ApiError::from)
    })?;
    if let Some(existing) = existing {
        let repeat = if existing.label == label && existing.start_cursor == start_cursor {
            Created::Existing(existing)
        } else {
            Created::Conflict(existing)
        };
        return with_db!(state, |conn| answer(&state, conn, repeat.clone()));
    }
    let start_token = match explicit {
        Some(token) => token,
        None => now_token(&state).await?,
    };
    let new = NewAccount {
        address,
        label,
        start_cursor,
        start_token: Some(start_token),
        added_by: AddedBy::Api,
    };
    let created = with_db!(state, |conn| async {
        accounts::create(conn, &new).await.map_err(ApiError::from)
    })?;
    if let Created::Created(row) = &created {
        tracing::info!(account = %row.address, start_token, "watched account added");
    }
    with_db!(state, |conn| answer(&state, conn, created.clone()))
}

async fn answer(
    state: &AdminState,
    conn: &mut orbitpay_store::AsyncPgConnection,
    created: Created,
) -> Result<Response, ApiError> {
    match created {
        Created::Created(row) => Ok(json_response(
            StatusCode::CREATED,
            &views(state, conn, &[row]).await?[0],
        )),
        Created::Existing(row) => Ok(json_response(
            StatusCode::OK,
            &views(state, conn, &[row]).await?[0],
        )),
        Created::Conflict(row) => Err(ApiError::new(
            StatusCode::CONFLICT,
            code::ACCOUNT_EXISTS,
            format!(
                "account {} is watched already with start_cursor {:?} and label {:?}; nothing changed",
                row.address, row.start_cursor, row.label
            ),
        )),
    }
}

/// Watched accounts, by address.
#[utoipa::path(
    get, path = "/v1/accounts", tag = "accounts",
    params(AccountParams),
    responses(
        (status = 200, body = AccountPage, links(
            ("remove" = (operation_id = "remove_account", parameters(("address" = "$response.body#/data/0/address")))),
        )),
        (status = 400, description = "INVALID_REQUEST", body = ErrorBody)
    )
)]
pub async fn list_accounts(
    State(state): State<Arc<AdminState>>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params: AccountParams = query(&uri)?;
    let limit = page_limit(params.limit)?;
    if let Some(after) = &params.after
        && !looks_like_g(after)
    {
        return Err(ApiError::bad_request(
            code::INVALID_REQUEST,
            "after must be a G address (a previous page's next_after)",
        ));
    }
    let (rows, data) = with_db!(state, |conn| async {
        let rows = accounts::list(conn, params.after.as_deref(), limit).await?;
        let data = views(&state, conn, &rows).await?;
        Ok::<_, ApiError>((rows, data))
    })?;
    let next_after = next_after(&rows, limit, |r| r.address.clone());
    Ok(json_response(
        StatusCode::OK,
        &AccountPage { data, next_after },
    ))
}

/// Stop watching an account. Its cursor, sessions and payments stay.
#[utoipa::path(
    delete, path = "/v1/accounts/{address}", tag = "accounts",
    params(("address" = String, Path, description = "The watched account (G)"), RemoveParams),
    responses(
        (status = 200, description = "Removed", body = RemovedView),
        (status = 400, description = "INVALID_REQUEST", body = ErrorBody),
        (status = 404, description = "NOT_FOUND: not a watched account (text that is no G address names none either)", body = ErrorBody),
        (status = 409, description = "ACCOUNT_HAS_OPEN_SESSIONS: pending sessions (without expire_open=true) or processing ones (always); nothing changed", body = ErrorBody),
    )
)]
pub async fn remove_account(
    State(state): State<Arc<AdminState>>,
    PathParam(address): PathParam<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params: RemoveParams = query(&uri)?;
    let not_watched = || {
        ApiError::not_found(format!(
            "watched account {:?}",
            address.chars().take(60).collect::<String>()
        ))
    };
    let account: AccountId = address.parse().map_err(|_| not_watched())?;
    let expire_open = params.expire_open.unwrap_or(false);
    let removed = with_db!(state, |conn| async {
        accounts::remove(conn, &account, expire_open)
            .await
            .map_err(ApiError::from)
    })?;
    match removed {
        Removed::Removed { expired } => {
            tracing::info!(account = %account, expired = expired.len(), "watched account removed");
            Ok(json_response(
                StatusCode::OK,
                &RemovedView {
                    address: account.to_string(),
                    expired_sessions: expired.iter().map(|s| s.id).collect(),
                },
            ))
        }
        Removed::NotWatched => Err(not_watched()),
        Removed::OpenSessions {
            pending,
            processing,
        } => Err(ApiError::new(
            StatusCode::CONFLICT,
            code::ACCOUNT_HAS_OPEN_SESSIONS,
            format!(
                "account {account} has {pending} pending and {processing} processing sessions; \
                 pending ones are expired with expire_open=true, processing ones must resolve first"
            ),
        )),
    }
}

/// The rows with this instance's ingestion state, the stored cursors and the lock holders.
async fn views(
    state: &AdminState,
    conn: &mut orbitpay_store::AsyncPgConnection,
    rows: &[WatchedAccountRow],
) -> Result<Vec<AccountView>, ApiError> {
    let addresses: Vec<String> = rows.iter().map(|r| r.address.clone()).collect();
    let cursors: HashMap<String, i64> = accounts::cursors_of(conn, &addresses)
        .await?
        .into_iter()
        .collect();
    let keys: HashMap<i64, &str> = rows
        .iter()
        .filter_map(|r| {
            r.address
                .parse::<AccountId>()
                .ok()
                .map(|a| (crate::leader::lock_key(&a), r.address.as_str()))
        })
        .collect();
    let key_list: Vec<i64> = keys.keys().copied().collect();
    let mut leaders: HashMap<&str, String> = HashMap::new();
    for holder in accounts::lock_holders(conn, &key_list).await? {
        if let Some(address) = keys.get(&holder.key) {
            leaders.insert(
                address,
                format!(
                    "{} {}@{}",
                    holder.application_name,
                    holder.pid,
                    holder.client_addr.as_deref().unwrap_or("local")
                ),
            );
        }
    }
    let here: HashMap<String, crate::admin::AccountStatus> = state
        .ingest
        .accounts()
        .into_iter()
        .map(|s| (s.account.to_string(), s))
        .collect();
    Ok(rows
        .iter()
        .map(|r| {
            let local = here.get(&r.address);
            AccountView {
                address: r.address.clone(),
                label: r.label.clone(),
                start_cursor: r.start_cursor.clone(),
                start_token: r.start_token,
                added_by: r.added_by.clone(),
                state: local.map_or_else(|| "not_running".to_owned(), |s| s.state.clone()),
                lag_seconds: local.and_then(|s| s.lag_seconds),
                cursor: cursors.get(&r.address).copied(),
                leading_instance: leaders.get(r.address.as_str()).cloned(),
                created_at: r.created_at,
                updated_at: r.updated_at,
            }
        })
        .collect())
}

fn looks_like_g(text: &str) -> bool {
    text.len() == 56
        && text.starts_with('G')
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

fn parse_address(text: &str) -> Result<AccountId, ApiError> {
    reject_nul("address", text)?;
    let shown: String = text.chars().take(80).collect();
    if text.starts_with('M') {
        return Err(ApiError::bad_request(
            code::INVALID_ACCOUNT,
            format!(
                "{shown:?} is a muxed (M) address: watch its G account; the muxed id names the session"
            ),
        ));
    }
    text.parse::<AccountId>().map_err(|e| {
        ApiError::bad_request(
            code::INVALID_ACCOUNT,
            format!("address {shown:?} is not a G account: {e}"),
        )
    })
}

/// `now` is `None`; a token is itself.
fn parse_start(text: &str) -> Result<Option<i64>, ApiError> {
    if text == "now" {
        return Ok(None);
    }
    let digits = !text.is_empty()
        && text.len() <= MAX_TOKEN_DIGITS
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    digits
        .then(|| text.parse::<i64>().ok())
        .flatten()
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                code::INVALID_REQUEST,
                format!(
                    "start_cursor {:?} must be `now` or a paging token (0 to {MAX_TOKEN_DIGITS} digits)",
                    text.chars().take(40).collect::<String>()
                ),
            )
        })
}

async fn now_token(state: &AdminState) -> Result<i64, ApiError> {
    let unavailable = |why: String| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code::LEDGER_UNAVAILABLE,
            format!("start_cursor `now` needs the ledger's position: {why}"),
        )
    };
    let Some(ledger) = &state.ledger else {
        return Err(unavailable("this daemon has no ledger source".into()));
    };
    ledger.now_token().await.map_err(unavailable)
}
