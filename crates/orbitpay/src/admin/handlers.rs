//! The routes. Handlers stay thin: parse and validate, call the store (or the reporter), and
//! render a view.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use diesel_async::AsyncConnection as _;
use orbitpay_core::{AccountId, Amount, AmountError, Asset, SessionStatus, TxHash};
use orbitpay_store::models::{NewSession, Session};
use orbitpay_store::outbox::{self, EventType};
use orbitpay_store::sessions::{self, CancelOutcome, ListError, ListFilter};
use orbitpay_store::{PooledConnection, SchemaStatus};
use serde::Deserialize;
use serde_json::value::RawValue;
use tracing::Instrument;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::{
    ApiError, ErrorBody, InternalErrorMarker, code, json_bytes_response, json_response,
};
use super::idempotency::{self, KeyGuard};
use super::views::*;
use super::{AdminState, MAX_METADATA_BYTES, ReportError, body};

/// Request id header, on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;
const MIN_EXPIRES_IN: u64 = 60;
const MAX_EXPIRES_IN: u64 = 31 * 24 * 3600;

/// The admin API. The daemon serves it with [`super::serve`]; tests may too.
pub fn router(state: Arc<AdminState>) -> Router {
    let keyed = || middleware::from_fn_with_state(state.clone(), idempotency::layer);
    Router::new()
        .route(
            "/v1/sessions",
            post(create_session).layer(keyed()).get(list_sessions),
        )
        .route("/v1/sessions/{id}", get(get_session))
        .route("/v1/sessions/{id}/cancel", post(cancel_session))
        .route("/v1/sessions/{id}/payments", post(report_tx).layer(keyed()))
        .route("/v1/payments/unmatched", get(list_unmatched))
        .route("/v1/events", get(list_events))
        .route("/v1/status", get(status))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(request_context))
        .with_state(state)
}

/// Outermost layer: a request id (header, log span, 500 messages), the request log line and
/// the request metrics.
async fn request_context(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = Uuid::now_v7().simple().to_string();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!(
        "admin_request",
        request_id = %request_id,
        method = %method,
        route = %route,
        session_id = tracing::field::Empty,
        tx_hash = tracing::field::Empty,
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    if response.extensions().get::<InternalErrorMarker>().is_some() {
        let error = ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL,
            format!(
                "internal server error (request id {request_id}; details are in the daemon's log)"
            ),
        );
        response = json_response(StatusCode::INTERNAL_SERVER_ERROR, &error.body());
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            duration_ms = elapsed.as_millis() as u64,
            "admin request"
        );
    });
    let labels = [
        ("method", method.to_string()),
        ("route", route),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("orbitpay_admin_requests_total", &labels).increment(1);
    metrics::histogram!("orbitpay_admin_request_duration_seconds", &labels[..2])
        .record(elapsed.as_secs_f64());
    response
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, code::NOT_FOUND, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        code::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
    )
}

async fn conn(state: &AdminState) -> Result<PooledConnection, ApiError> {
    state.pool.get().await.map_err(ApiError::internal)
}

/// A path id that is not a UUID names no session.
fn session_id(raw: &str) -> Result<Uuid, ApiError> {
    let id = Uuid::try_parse(raw)
        .map_err(|_| ApiError::session_not_found(raw.chars().take(64).collect::<String>()))?;
    tracing::Span::current().record("session_id", tracing::field::display(id));
    Ok(id)
}

fn query<T: serde::de::DeserializeOwned>(uri: &Uri) -> Result<T, ApiError> {
    Query::<T>::try_from_uri(uri)
        .map(|Query(q)| q)
        .map_err(|e| {
            ApiError::bad_request(
                code::INVALID_REQUEST,
                format!("invalid query: {}", e.body_text()),
            )
        })
}

fn limit(requested: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    match requested {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            code::INVALID_REQUEST,
            format!("limit {n} must be between 1 and {max}"),
        )),
    }
}

async fn session_with_payments(
    conn: &mut PooledConnection,
    state: &AdminState,
    session: &Session,
) -> Result<SessionView, ApiError> {
    let payments = orbitpay_store::payments::for_session(conn, session.id).await?;
    Ok(SessionView::new(session, &state.network_passphrase).with_payments(&payments))
}

// ---------------------------------------------------------------------------------------------
// Sessions

/// `POST /v1/sessions` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// Decimal amount, a string or a JSON number, > 0 with at most 7 decimals; parsed exactly
    /// from its text.
    #[schema(schema_with = amount_schema)]
    pub amount: Box<RawValue>,
    /// `native` or `CODE:ISSUER`.
    #[schema(example = "USDC:GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN")]
    pub asset: String,
    /// Which watched account receives the payment; the first configured one by default.
    #[serde(default)]
    pub account: Option<String>,
    /// Seconds until the session expires (60 to 2678400); the configured default otherwise.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// The merchant's order reference (at most 255 characters).
    #[serde(default)]
    pub order_id: Option<String>,
    /// Any JSON object, at most 16 KiB; echoed back and in events.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Overrides the webhook endpoint for this session's events.
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// `amount` is a string or a number.
fn amount_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^[0-9]+(\.[0-9]{1,7})?$")))
        .item(ObjectBuilder::new().schema_type(Type::Number))
        .description(Some("Decimal amount, a string or a JSON number, > 0 with at most 7 decimals; parsed exactly from its text."))
        .examples(["12.5"])
        .build()
        .into()
}

/// An amount from its JSON text: malformed text is ERROR_BAD_JSON; a well-formed amount that
/// is not a positive value with at most 7 decimals is INVALID_AMOUNT.
fn parse_amount(raw: &RawValue) -> Result<Amount, ApiError> {
    let text = raw.get().trim();
    let text: String = if text.starts_with('"') {
        serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(code::BAD_JSON, format!("amount: {e}")))?
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        text.to_owned()
    } else {
        return Err(ApiError::bad_request(
            code::BAD_JSON,
            "amount must be a decimal string or number",
        ));
    };
    let invalid = |msg: String| ApiError::bad_request(code::INVALID_AMOUNT, msg);
    match text.parse::<Amount>() {
        Ok(a) if a.is_zero() => Err(invalid("amount must be greater than 0".to_owned())),
        Ok(a) => Ok(a),
        Err(e @ (AmountError::TooPrecise(_) | AmountError::OutOfRange(_) | AmountError::Empty)) => {
            Err(invalid(e.to_string()))
        }
        Err(_)
            if text
                .strip_prefix('-')
                .is_some_and(|t| t.parse::<Amount>().is_ok()) =>
        {
            Err(invalid("amount must be greater than 0".to_owned()))
        }
        Err(e) => Err(ApiError::bad_request(code::BAD_JSON, e.to_string())),
    }
}

/// A validated create request, waiting for the database clock to fix `expires_at`.
struct Draft {
    account: AccountId,
    asset: Asset,
    amount: Amount,
    expires_in: Duration,
    metadata: serde_json::Value,
    order_id: Option<String>,
    webhook_url: Option<String>,
}

fn validate_create(state: &AdminState, req: CreateSessionRequest) -> Result<Draft, ApiError> {
    let amount = parse_amount(&req.amount)?;
    let asset: Asset = req
        .asset
        .parse()
        .map_err(|e| ApiError::bad_request(code::INVALID_ASSET, format!("{e}")))?;
    let account = match &req.account {
        None => *state.accounts.first().ok_or_else(|| {
            ApiError::bad_request(code::UNKNOWN_ACCOUNT, "no watched account is configured")
        })?,
        Some(text) => text
            .parse::<AccountId>()
            .ok()
            .filter(|a| state.accounts.contains(a))
            .ok_or_else(|| {
                ApiError::bad_request(
                    code::UNKNOWN_ACCOUNT,
                    format!(
                        "account {:?} is not a watched account",
                        text.chars().take(60).collect::<String>()
                    ),
                )
            })?,
    };
    let expires_in = match req.expires_in {
        None => state.default_expiry,
        Some(s) if (MIN_EXPIRES_IN..=MAX_EXPIRES_IN).contains(&s) => Duration::from_secs(s),
        Some(s) => {
            return Err(ApiError::bad_request(
                code::INVALID_REQUEST,
                format!(
                    "expires_in {s} must be between {MIN_EXPIRES_IN} and {MAX_EXPIRES_IN} seconds"
                ),
            ));
        }
    };
    let metadata = match req.metadata {
        None => serde_json::Value::Object(Default::default()),
        Some(m @ serde_json::Value::Object(_)) => {
            if serde_json::to_vec(&m)
                .map(|v| v.len())
                .unwrap_or(usize::MAX)
                > MAX_METADATA_BYTES
            {
                return Err(ApiError::bad_request(
                    code::INVALID_REQUEST,
                    format!("metadata exceeds {MAX_METADATA_BYTES} bytes"),
                ));
            }
            m
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                code::BAD_JSON,
                "metadata must be a JSON object",
            ));
        }
    };
    if let Some(o) = &req.order_id
        && (o.is_empty() || o.chars().count() > 255)
    {
        return Err(ApiError::bad_request(
            code::INVALID_REQUEST,
            "order_id must be 1-255 characters",
        ));
    }
    if let Some(u) = &req.webhook_url {
        let ok = u.len() <= 2048
            && url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !ok {
            return Err(ApiError::bad_request(
                code::INVALID_REQUEST,
                "webhook_url must be an http(s) URL",
            ));
        }
    }
    Ok(Draft {
        account,
        asset,
        amount,
        expires_in,
        metadata,
        order_id: req.order_id,
        webhook_url: req.webhook_url,
    })
}

/// Create a payment session.
#[utoipa::path(
    post, path = "/v1/sessions", tag = "sessions",
    params(("Idempotency-Key" = String, Header, description = "Required; 1-255 printable ASCII characters. Retries with the same key and request replay the first result.")),
    request_body = CreateSessionRequest,
    responses(
        (status = 201, description = "Created", body = SessionView),
        (status = 200, description = "A retry with the same Idempotency-Key: the first response, replayed", body = SessionView),
        (status = 400, description = "ERROR_BAD_JSON, INVALID_AMOUNT, INVALID_ASSET, UNKNOWN_ACCOUNT, INVALID_REQUEST, IDEMPOTENCY_KEY_REQUIRED", body = ErrorBody),
        (status = 409, description = "IDEMPOTENCY_KEY_IN_USE", body = ErrorBody),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorBody),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
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
    let mut conn = conn(&state).await?;
    let (session, response_body) = conn
        .transaction(async |conn| {
            let now = sessions::database_now(conn).await?;
            let expires_in =
                chrono::Duration::from_std(draft.expires_in).map_err(ApiError::internal)?;
            let new = NewSession {
                account: draft.account,
                asset: draft.asset.clone(),
                amount: draft.amount,
                expires_at: now + expires_in,
                metadata: draft.metadata.clone(),
                order_id: draft.order_id.clone(),
                webhook_url: draft.webhook_url.clone(),
            };
            let session = sessions::insert(conn, &new).await?;
            outbox::insert(
                conn,
                EventType::SessionCreated,
                Some(session.id),
                sessions::event_payload(&session),
            )
            .await?;
            let view = SessionView::new(&session, &state.network_passphrase).with_payments(&[]);
            let body = serde_json::to_vec(&view).map_err(ApiError::internal)?;
            guard
                .complete(conn, StatusCode::CREATED, &body, Some(session.id))
                .await?;
            Ok::<_, ApiError>((session, body))
        })
        .await?;
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
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody),
    )
)]
pub async fn get_session(
    State(state): State<Arc<AdminState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = session_id(&id)?;
    let mut conn = conn(&state).await?;
    let session = sessions::find(&mut conn, id)
        .await?
        .ok_or_else(|| ApiError::session_not_found(id))?;
    let view = session_with_payments(&mut conn, &state, &session).await?;
    Ok(json_response(StatusCode::OK, &view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListSessionsParams {
    /// Only sessions in this status.
    #[param(value_type = Option<SessionStatusSchema>)]
    pub status: Option<String>,
    /// Only sessions with this order id.
    pub order_id: Option<String>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<i64>,
    /// The `next_after` of the previous page.
    pub after: Option<Uuid>,
}

/// Sessions, newest first, keyset-paginated.
#[utoipa::path(
    get, path = "/v1/sessions", tag = "sessions",
    params(ListSessionsParams),
    responses(
        (status = 200, body = SessionPage),
        (status = 400, description = "INVALID_REQUEST", body = ErrorBody),
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
    let limit = limit(params.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let filter = ListFilter {
        status,
        order_id: params.order_id,
        after: params.after,
        limit,
    };
    let mut conn = conn(&state).await?;
    let found = sessions::list(&mut conn, &filter)
        .await
        .map_err(|e| match e {
            ListError::UnknownCursor(id) => {
                ApiError::bad_request(code::INVALID_REQUEST, format!("after: no session {id}"))
            }
            ListError::Store(e) => ApiError::internal(e),
        })?;
    let next_after = (found.len() as i64 == limit)
        .then(|| found.last().map(|s| s.id))
        .flatten();
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
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = session_id(&id)?;
    let mut conn = conn(&state).await?;
    let session = match sessions::cancel(&mut conn, id).await? {
        CancelOutcome::Cancelled(s) => *s,
        CancelOutcome::NotFound => return Err(ApiError::session_not_found(id)),
        CancelOutcome::InvalidState(status) => {
            return Err(ApiError::invalid_state(status, "cancel"));
        }
    };
    tracing::info!(session_id = %id, "session cancelled");
    metrics::counter!("orbitpay_sessions_cancelled_total").increment(1);
    let view = session_with_payments(&mut conn, &state, &session).await?;
    Ok(json_response(StatusCode::OK, &view))
}

/// `POST /v1/sessions/{id}/payments` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportTxRequest {
    /// The transaction's hash, 64 hex characters.
    #[schema(example = "b9d0b2292c4e09e8eb22d036171491e87b8d2086bf8b265874c8d182cb9c9020")]
    pub tx_hash: String,
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
        ("Idempotency-Key" = String, Header, description = "Required; 1-255 printable ASCII characters."),
    ),
    request_body = ReportTxRequest,
    responses(
        (status = 201, description = "Reported; see `outcome` and the session's status", body = ReportTxView),
        (status = 200, description = "A retry with the same Idempotency-Key: the first response, replayed", body = ReportTxView),
        (status = 400, description = "INVALID_TX_HASH, ERROR_BAD_JSON, IDEMPOTENCY_KEY_REQUIRED", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "INVALID_SESSION_STATE (paid by another transaction, expired, cancelled) or IDEMPOTENCY_KEY_IN_USE", body = ErrorBody),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
    )
)]
pub async fn report_tx(
    State(state): State<Arc<AdminState>>,
    Path(id): Path<String>,
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
    tracing::info!(session_id = %id, tx_hash = %tx_hash, outcome = outcome.name(), status = %outcome.session().status, "transaction reported");
    let mut conn = conn(&state).await?;
    let view = session_with_payments(&mut conn, &state, outcome.session()).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &ReportTxView::new(&outcome, view),
    ))
}

// ---------------------------------------------------------------------------------------------
// Operations

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// The `next_after` of the previous page (default 0: from the start).
    pub after: Option<i64>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<i64>,
}

/// Payments that credited no session, oldest first.
#[utoipa::path(
    get, path = "/v1/payments/unmatched", tag = "operations",
    params(FeedParams),
    responses((status = 200, body = UnmatchedPage), (status = 400, description = "INVALID_REQUEST", body = ErrorBody))
)]
pub async fn list_unmatched(
    State(state): State<Arc<AdminState>>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params: FeedParams = query(&uri)?;
    let limit = limit(params.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let mut conn = conn(&state).await?;
    let rows =
        orbitpay_store::unmatched::list_after(&mut conn, params.after.unwrap_or(0), limit).await?;
    let next_after = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let data = rows.iter().map(UnmatchedView::from).collect();
    Ok(json_response(
        StatusCode::OK,
        &UnmatchedPage { data, next_after },
    ))
}

/// The outbox event feed, oldest first.
#[utoipa::path(
    get, path = "/v1/events", tag = "operations",
    params(FeedParams),
    responses((status = 200, body = EventPage), (status = 400, description = "INVALID_REQUEST", body = ErrorBody))
)]
pub async fn list_events(
    State(state): State<Arc<AdminState>>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params: FeedParams = query(&uri)?;
    let limit = limit(params.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let mut conn = conn(&state).await?;
    let rows = outbox::list_after(&mut conn, params.after.unwrap_or(0), limit).await?;
    let next_after = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let data = rows.iter().map(EventView::from).collect();
    Ok(json_response(
        StatusCode::OK,
        &EventPage { data, next_after },
    ))
}

/// Version, ingestion per account, session counts and outbox depth.
#[utoipa::path(get, path = "/v1/status", tag = "operations", responses((status = 200, body = StatusView)))]
pub async fn status(State(state): State<Arc<AdminState>>) -> Result<Response, ApiError> {
    let mut conn = conn(&state).await?;
    let counts = orbitpay_store::stats::session_counts(&mut conn).await?;
    let depth = outbox::depth(&mut conn).await?;
    drop(conn);
    let view = StatusView {
        version: state.version.clone(),
        accounts: state.ingest.accounts(),
        sessions: counts
            .into_iter()
            .map(|(s, n)| (s.as_str().to_owned(), n))
            .collect(),
        outbox: OutboxView {
            undelivered: depth.undelivered,
            oldest_age_seconds: depth.oldest_age_seconds,
        },
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
    let halted: Vec<String> = state
        .ingest
        .accounts()
        .into_iter()
        .filter(|a| a.is_halted())
        .map(|a| a.account.to_string())
        .collect();
    if !halted.is_empty() {
        return not_ready(format!("ingestion halted for {}", halted.join(", ")));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn amounts_parse_exactly_from_their_text() {
        assert_eq!(
            parse_amount(&raw("\"12.5\"")).unwrap().stroops(),
            125_000_000
        );
        assert_eq!(parse_amount(&raw("12.5")).unwrap().stroops(), 125_000_000);
        assert_eq!(
            parse_amount(&raw("922337203685.4775807")).unwrap(),
            Amount::MAX
        );
        for (text, code) in [
            ("\"one fifty rupees\"", code::BAD_JSON),
            ("true", code::BAD_JSON),
            ("null", code::BAD_JSON),
            ("1e5", code::BAD_JSON),
            ("\"0\"", code::INVALID_AMOUNT),
            ("0", code::INVALID_AMOUNT),
            ("-5", code::INVALID_AMOUNT),
            ("\"-5\"", code::INVALID_AMOUNT),
            ("\"\"", code::INVALID_AMOUNT),
            ("1.00000001", code::INVALID_AMOUNT),
            ("922337203685.4775808", code::INVALID_AMOUNT),
        ] {
            assert_eq!(parse_amount(&raw(text)).unwrap_err().code, code, "{text}");
        }
    }
}
