//! The session endpoints: create, list, show, timeline, cancel, and the client-reported
//! transaction.

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use orbitpay_core::{SessionStatus, TxHash};
use orbitpay_store::events::{EventData, SessionState};
use orbitpay_store::models::{NewSession, Session};
use orbitpay_store::outbox::{self, EventType};
use orbitpay_store::sessions::{self, CancelOutcome, ListError, ListFilter};

use uuid::Uuid;

use super::idempotency::KeyGuard;
use super::state::{AdminState, ReportError, ReportOutcome};
use super::support::body;
use super::support::db::with_db;
use super::support::error::{ApiError, ErrorBody, code};
use super::support::input::{PathParam, query};
use super::support::json::{json_bytes_response, json_response};
use super::support::pagination::{next_after, page_limit};

mod amount_schema;
mod json;
mod pay_uri;
mod validate;

pub(crate) use amount_schema::amount_schema;
pub use json::{
    CreateSessionRequest, ListSessionsParams, ReportTxRequest, SessionTimelineView, SessionView,
    TimelineEntry,
};
use json::{ReportTxView, SessionPage};
pub(crate) use validate::parse_amount;
use validate::{receiver, validate_create};

async fn session_with_payments(
    conn: &mut AsyncPgConnection,
    state: &AdminState,
    session: &Session,
) -> Result<SessionView, ApiError> {
    let payments = orbitpay_store::payments::for_session(conn, session.id).await?;
    Ok(SessionView::new(session, &state.network_passphrase).with_payments(&payments))
}

/// Create a payment session.
#[utoipa::path(
    post, path = "/v1/sessions", tag = "sessions",
    params(("Idempotency-Key" = String, Header, pattern = r"^[\x21-\x7E]([\x20-\x7E]{0,253}[\x21-\x7E])?$", description = "Required; 1-255 printable ASCII characters (space inside only: HTTP drops it at either end). Retries with the same key and request replay the first result.")),
    request_body = CreateSessionRequest,
    responses(
        (status = 201, description = "Created", body = SessionView, links(
            ("show" = (operation_id = "get_session", parameters(("id" = "$response.body#/id")))),
            ("cancel" = (operation_id = "cancel_session", parameters(("id" = "$response.body#/id")))),
            ("report" = (operation_id = "report_tx", parameters(("id" = "$response.body#/id")))),
        )),
        (status = 200, description = "A retry with the same Idempotency-Key: the first response, replayed", body = SessionView, links(
            ("show" = (operation_id = "get_session", parameters(("id" = "$response.body#/id")))),
            ("cancel" = (operation_id = "cancel_session", parameters(("id" = "$response.body#/id")))),
            ("report" = (operation_id = "report_tx", parameters(("id" = "$response.body#/id")))),
        )),
        (status = 400, description = "ERROR_BAD_JSON, INVALID_AMOUNT, INVALID_ASSET, UNKNOWN_ACCOUNT, INVALID_REQUEST, INVALID_CHARACTER, IDEMPOTENCY_KEY_REQUIRED", body = ErrorBody),
        (status = 408, description = "REQUEST_TIMEOUT: the body did not arrive in time", body = ErrorBody),
        (status = 409, description = "IDEMPOTENCY_KEY_IN_USE", body = ErrorBody),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorBody),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED; WEBHOOKS_NOT_CONFIGURED: a webhook_url while the daemon has no webhook signing secret", body = ErrorBody),
    )
)]
pub async fn create_session(
    State(state): State<Arc<AdminState>>,
    Extension(guard): Extension<KeyGuard>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(&headers, body, state.body_timeout).await?;
    let draft = validate_create(&state, body::parse(&bytes)?)?;
    let (session, response_body) = with_db!(state, |conn| conn.transaction(async |conn| {
        // Inside the transaction, so the account is read with the insert it allows.
        let account = receiver(&state, conn, draft.account).await?;
        let now = sessions::database_now(conn).await?;
        let expires_in =
            chrono::Duration::from_std(draft.expires_in).map_err(ApiError::internal)?;
        let new = NewSession {
            account,
            asset: draft.asset.clone(),
            amount: draft.amount,
            expires_at: now + expires_in,
            metadata: draft.metadata.clone(),
            order_id: draft.order_id.clone(),
            webhook_url: draft.webhook_url.clone(),
        };
        let session = sessions::insert(conn, &new).await?;
        let view = SessionView::new(&session, &state.network_passphrase).with_payments(&[]);
        let body = serde_json::to_vec(&view).map_err(ApiError::internal)?;
        // The event and the key's response in one round trip.
        let shared: &AsyncPgConnection = conn;
        futures::try_join!(
            async {
                let data = EventData::from(SessionState::of(&session));
                outbox::insert_all(shared, &[data.event(EventType::SessionCreated)])
                    .await
                    .map_err(ApiError::from)
            },
            guard.complete(shared, StatusCode::CREATED, &body, Some(session.id)),
        )?;
        Ok::<_, ApiError>((session, body))
    }))?;
    tracing::Span::current().record("session_id", tracing::field::display(session.id));
    tracing::info!(
        session_id = %session.id,
        amount = %session.amount,
        asset = %session.asset,
        account = %session.account,
        "session created"
    );
    metrics::counter!("orbitpay_sessions_created_total").increment(1);
    let mut response = json_bytes_response(StatusCode::CREATED, response_body);
    KeyGuard::mark_completed(&mut response);
    Ok(response)
}

/// A session and its payments.
#[utoipa::path(
    get, path = "/v1/sessions/{id}", tag = "sessions",
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 200, body = SessionView),
        (status = 404, description = "SESSION_NOT_FOUND (an id that is not a UUID names no session either)", body = ErrorBody),
    )
)]
pub async fn get_session(
    State(state): State<Arc<AdminState>>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let id = session_id(&id)?;
    let view = with_db!(state, |conn| async {
        let session = sessions::find(conn, id)
            .await?
            .ok_or_else(|| ApiError::session_not_found(id))?;
        session_with_payments(conn, &state, &session).await
    })?;
    Ok(json_response(StatusCode::OK, &view))
}

/// A session with its timeline: every event written for it in commit order (the feed's), each
/// with the ledger and transaction behind it and its webhook deliveries' last attempts. The
/// session's fields are those of `GET /v1/sessions/{id}`, read in the same snapshot.
#[utoipa::path(
    get, path = "/v1/sessions/{id}/timeline", tag = "sessions",
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 200, body = SessionTimelineView),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody),
    )
)]
pub async fn session_timeline(
    State(state): State<Arc<AdminState>>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let id = session_id(&id)?;
    let timeline = with_db!(state, |conn| async {
        orbitpay_store::timeline::for_session(conn, id)
            .await?
            .ok_or_else(|| ApiError::session_not_found(id))
    })?;
    let view = SessionTimelineView {
        session: SessionView::new(&timeline.session, &state.network_passphrase)
            .with_payments(&timeline.payments),
        timeline: timeline.events.iter().map(TimelineEntry::new).collect(),
    };
    Ok(json_response(StatusCode::OK, &view))
}

/// Sessions, newest first, keyset-paginated.
#[utoipa::path(
    get, path = "/v1/sessions", tag = "sessions",
    params(ListSessionsParams),
    responses(
        (status = 200, body = SessionPage),
        (status = 400, description = "INVALID_REQUEST, INVALID_CHARACTER", body = ErrorBody),
        (status = 410, description = "UNKNOWN_CURSOR: `after` names no session", body = ErrorBody),
    )
)]
pub async fn list_sessions(
    State(state): State<Arc<AdminState>>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params: ListSessionsParams = query(&uri)?;
    let status = params
        .status
        .as_deref()
        .map(|s| s.parse::<SessionStatus>())
        .transpose()
        .map_err(|e| ApiError::bad_request(code::INVALID_REQUEST, e.to_string()))?;
    let limit = page_limit(params.limit)?;
    let filter = ListFilter {
        status,
        order_id: params.order_id,
        after: params.after,
        limit,
    };
    let found = with_db!(state, |conn| async {
        sessions::list(conn, &filter).await.map_err(|e| match e {
            ListError::UnknownCursor(id) => ApiError::new(
                StatusCode::GONE,
                code::UNKNOWN_CURSOR,
                format!("after: no session {id}; restart without after"),
            ),
            ListError::Store(e) => ApiError::from(e),
        })
    })?;
    let next_after = next_after(&found, limit, |s| s.id);
    let data = found
        .iter()
        .map(|s| SessionView::new(s, &state.network_passphrase))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &SessionPage { data, next_after },
    ))
}

/// Cancel a pending session.
#[utoipa::path(
    post, path = "/v1/sessions/{id}/cancel", tag = "sessions",
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "Cancelled", body = SessionView),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "INVALID_SESSION_STATE: only a pending session can be cancelled", body = ErrorBody),
    )
)]
pub async fn cancel_session(
    State(state): State<Arc<AdminState>>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let id = session_id(&id)?;
    let cancelled = with_db!(state, |conn| async {
        sessions::cancel(conn, id).await.map_err(ApiError::from)
    })?;
    let session = match cancelled {
        CancelOutcome::Cancelled(s) => *s,
        CancelOutcome::NotFound => return Err(ApiError::session_not_found(id)),
        CancelOutcome::InvalidState(status) => {
            return Err(ApiError::invalid_state(status, "cancel"));
        }
    };
    tracing::info!(session_id = %id, "session cancelled");
    metrics::counter!("orbitpay_sessions_cancelled_total").increment(1);
    let view = with_db!(state, |conn| session_with_payments(conn, &state, &session))?;
    Ok(json_response(StatusCode::OK, &view))
}

/// Report the transaction that pays a session.
///
/// Claims the session with the hash, confirms it on the ledger (waiting a bounded time) and
/// settles. `processing` means it was not confirmed within the wait and finishes in the
/// background.
#[utoipa::path(
    post, path = "/v1/sessions/{id}/payments", tag = "sessions",
    params(
        ("id" = Uuid, Path, description = "Session id"),
        ("Idempotency-Key" = String, Header, pattern = r"^[\x21-\x7E]([\x20-\x7E]{0,253}[\x21-\x7E])?$", description = "Required; 1-255 printable ASCII characters (space inside only)."),
    ),
    request_body = ReportTxRequest,
    responses(
        (status = 201, description = "Reported; see `outcome` and the session's status", body = ReportTxView),
        (status = 200, description = "A retry with the same Idempotency-Key: the first response, replayed", body = ReportTxView),
        (status = 400, description = "INVALID_TX_HASH, ERROR_BAD_JSON, IDEMPOTENCY_KEY_REQUIRED, INVALID_REQUEST (an id not UTF-8 once decoded)", body = ErrorBody),
        (status = 408, description = "REQUEST_TIMEOUT: the body did not arrive in time", body = ErrorBody),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "INVALID_SESSION_STATE (paid by another transaction, expired, cancelled) or IDEMPOTENCY_KEY_IN_USE", body = ErrorBody),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
    )
)]
pub async fn report_tx(
    State(state): State<Arc<AdminState>>,
    PathParam(id): PathParam<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let id = session_id(&id)?;
    let bytes = body::read(&headers, body, state.body_timeout).await?;
    let req: ReportTxRequest = body::parse(&bytes)?;
    let tx_hash: TxHash = req
        .tx_hash
        .parse()
        .map_err(|e| ApiError::bad_request(code::INVALID_TX_HASH, format!("tx_hash: {e}")))?;
    tracing::Span::current().record("tx_hash", tracing::field::display(tx_hash));
    let outcome = match state
        .reporter
        .report_tx(id, tx_hash, state.confirm_wait)
        .await
    {
        Ok(outcome) => outcome,
        Err(ReportError::SessionNotFound) => return Err(ApiError::session_not_found(id)),
        Err(ReportError::InvalidState { status }) => {
            return Err(ApiError::invalid_state(
                status,
                &format!("report transaction {tx_hash}"),
            ));
        }
        Err(ReportError::Match(e)) => return Err(ApiError::internal(e)),
    };
    if matches!(outcome, ReportOutcome::Settled(_)) {
        orbitpay_store::crash::point("settle-before-response");
    }
    tracing::info!(session_id = %id, tx_hash = %tx_hash, outcome = outcome.name(), status = %outcome.session().status, "transaction reported");
    let view = with_db!(state, |conn| session_with_payments(
        conn,
        &state,
        outcome.session()
    ))?;
    Ok(json_response(
        StatusCode::CREATED,
        &ReportTxView::new(&outcome, view),
    ))
}

/// A path id that is not a UUID names no session.
fn session_id(raw: &str) -> Result<Uuid, ApiError> {
    let id = Uuid::try_parse(raw)
        .map_err(|_| ApiError::session_not_found(raw.chars().take(64).collect::<String>()))?;
    tracing::Span::current().record("session_id", tracing::field::display(id));
    Ok(id)
}
