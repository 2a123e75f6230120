//! `Idempotency-Key` for the POST endpoints that create something (Stripe semantics, IETF
//! httpapi idempotency-key draft). The whole mechanism is this middleware plus [`KeyGuard`]:
//!
//! 1. The key is required: 1-255 printable ASCII characters (400 IDEMPOTENCY_KEY_REQUIRED).
//! 2. The request's fingerprint is sha256 of method, path and canonical JSON body.
//! 3. [`orbitpay_store::idempotency::begin`] takes the key, or answers: the stored response
//!    (replayed byte for byte; a first 201 is replayed as 200), 422 IDEMPOTENCY_KEY_REUSED
//!    (another request), 409 IDEMPOTENCY_KEY_IN_USE (the first is still running; a lock older
//!    than the stale bound is taken over).
//! 4. The handler runs in its own task, so a client hanging up cannot cancel it half way. A
//!    handler that writes in one transaction stores its response there itself
//!    ([`KeyGuard::complete`]): the key and what the request created commit together. For the
//!    others the middleware stores the response afterwards.
//! 5. Validation failures (400, 408, 413) and 5xx are not stored: the key is released and a
//!    retry runs again.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use orbitpay_store::AsyncPgConnection;
use orbitpay_store::idempotency::{self as store, Begin};
use sha2::{Digest, Sha256};
use tracing::Instrument;
use uuid::Uuid;

use super::state::AdminState;
use super::support::body;
use super::support::db::with_db;
use super::support::error::{ApiError, code};
use super::support::json::json_bytes_response;

pub const HEADER: &str = "idempotency-key";
/// Set on replayed responses.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// The key this request holds; handlers that write in one transaction take it as an
/// `Extension` and call [`KeyGuard::complete`] inside that transaction.
#[derive(Debug, Clone)]
pub struct KeyGuard {
    key: String,
    token: DateTime<Utc>,
}

/// Marks a response whose result the handler already stored with the key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyCompleted;

impl KeyGuard {
    /// Stores the response with the key, inside the caller's transaction. Fails (409
    /// IDEMPOTENCY_KEY_IN_USE, rolling the caller's transaction back) when this request lost
    /// the key to a takeover.
    pub async fn complete(
        &self,
        conn: &AsyncPgConnection,
        status: StatusCode,
        body: &[u8],
        session_id: Option<Uuid>,
    ) -> Result<(), ApiError> {
        if store::complete(
            conn,
            &self.key,
            self.token,
            status.as_u16(),
            body,
            session_id,
        )
        .await?
        {
            Ok(())
        } else {
            tracing::warn!(idempotency_key = %self.key, "idempotency key was taken over; rolling back");
            Err(ApiError::key_in_use())
        }
    }

    /// Marks `response` as stored by [`complete`](Self::complete).
    pub(crate) fn mark_completed(response: &mut Response) {
        response.extensions_mut().insert(KeyCompleted);
    }
}

/// Whether a response is the request's result, to be replayed to retries. Validation failures
/// and server errors are not: the retry runs again.
fn is_stored(status: StatusCode) -> bool {
    !(status.is_server_error()
        || matches!(
            status,
            StatusCode::BAD_REQUEST
                | StatusCode::REQUEST_TIMEOUT
                | StatusCode::PAYLOAD_TOO_LARGE
                | StatusCode::UNPROCESSABLE_ENTITY
        ))
}

fn parse_key(request: &Request) -> Result<String, ApiError> {
    let required = |msg: &str| ApiError::bad_request(code::IDEMPOTENCY_KEY_REQUIRED, msg);
    let value = request
        .headers()
        .get(HEADER)
        .ok_or_else(|| required("the Idempotency-Key header is required"))?;
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(required(
            "Idempotency-Key must be 1-255 printable ASCII characters",
        ));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

fn fingerprint(method: &str, path: &str, canonical_body: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [method, path, canonical_body] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

/// The middleware; mount with `axum::middleware::from_fn_with_state`.
pub async fn layer(State(state): State<Arc<AdminState>>, request: Request, next: Next) -> Response {
    match run(state, request, next).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn run(state: Arc<AdminState>, request: Request, next: Next) -> Result<Response, ApiError> {
    let key = parse_key(&request)?;
    let (parts, body) = request.into_parts();
    let bytes = body::read(&parts.headers, body, state.body_timeout).await?;
    let canonical = body::canonical_json(&bytes)?;
    let print = fingerprint(parts.method.as_str(), parts.uri.path(), &canonical);

    let begun = with_db!(state, |conn| async {
        store::begin(conn, &key, &print, state.key_policy)
            .await
            .map_err(ApiError::from)
    })?;
    let token = match begun {
        Begin::Started { token } => token,
        Begin::Replay { status, body } => {
            metrics::counter!("orbitpay_admin_idempotency_total", "outcome" => "replayed")
                .increment(1);
            tracing::info!(idempotency_key = %key, "replaying the stored response");
            let status = match StatusCode::from_u16(status) {
                Ok(StatusCode::CREATED) => StatusCode::OK,
                Ok(s) => s,
                Err(_) => {
                    return Err(ApiError::internal(format!(
                        "stored status {status} is invalid"
                    )));
                }
            };
            let mut response = json_bytes_response(status, body);
            response
                .headers_mut()
                .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
            return Ok(response);
        }
        Begin::Mismatch => {
            metrics::counter!("orbitpay_admin_idempotency_total", "outcome" => "mismatch")
                .increment(1);
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code::IDEMPOTENCY_KEY_REUSED,
                "this Idempotency-Key was used with a different request",
            ));
        }
        Begin::InUse => {
            metrics::counter!("orbitpay_admin_idempotency_total", "outcome" => "in_use")
                .increment(1);
            return Err(ApiError::key_in_use());
        }
    };
    metrics::counter!("orbitpay_admin_idempotency_total", "outcome" => "started").increment(1);

    let guard = KeyGuard { key, token };
    let mut request = Request::from_parts(parts, Body::from(bytes));
    request.extensions_mut().insert(guard.clone());
    // Detached: the client hanging up must not cancel the request half way (the result would
    // be committed without its key, or the key left locked until it goes stale).
    let task = tokio::spawn(
        async move {
            let response = next.run(request).await;
            finish(&state, &guard, response).await
        }
        .instrument(tracing::Span::current()),
    );
    task.await
        .map_err(|e| ApiError::internal(format!("idempotent request task failed: {e}")))
}

/// Stores or releases the key according to the handler's response.
async fn finish(state: &AdminState, guard: &KeyGuard, response: Response) -> Response {
    if response.extensions().get::<KeyCompleted>().is_some() {
        return response;
    }
    let status = response.status();
    let mut conn = match state.pool.get().await {
        Ok(conn) => conn,
        Err(e) => {
            // The lock stays until it goes stale; a retry then runs again.
            tracing::error!(error = %e, idempotency_key = %guard.key, "cannot record the idempotency key's outcome");
            return response;
        }
    };
    if !is_stored(status) {
        if let Err(e) = store::release(&mut conn, &guard.key, guard.token).await {
            tracing::error!(error = %e, idempotency_key = %guard.key, "cannot release the idempotency key");
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            let _ = store::release(&mut conn, &guard.key, guard.token).await;
            return ApiError::internal(format!("cannot buffer the response: {e}")).into_response();
        }
    };
    match store::complete(
        &conn,
        &guard.key,
        guard.token,
        status.as_u16(),
        &bytes,
        None,
    )
    .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(idempotency_key = %guard.key, "idempotency key was taken over; response not stored")
        }
        Err(e) => {
            tracing::error!(error = %e, idempotency_key = %guard.key, "cannot store the response with its idempotency key")
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_separates_its_parts() {
        assert_ne!(
            fingerprint("POST", "/a", "b"),
            fingerprint("POST", "/ab", "")
        );
        assert_eq!(
            fingerprint("POST", "/a", "{}"),
            fingerprint("POST", "/a", "{}")
        );
    }

    #[test]
    fn only_results_are_stored() {
        for s in [200, 201, 404, 409] {
            assert!(is_stored(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400, 408, 413, 422, 500, 503] {
            assert!(!is_stored(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }
}
