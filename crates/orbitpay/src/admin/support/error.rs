//! The API's one error shape: `{"error":{"code":"...","message":"..."}}`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use orbitpay_core::SessionStatus;
use orbitpay_store::retry::Retryable;
use orbitpay_store::{ErrorClass, StoreError};
use serde::{Deserialize, Serialize};

use super::json::json_response;

/// Error codes, one constant each so a typo cannot invent a new one.
pub mod code {
    pub const BAD_JSON: &str = "ERROR_BAD_JSON";
    pub const INVALID_REQUEST: &str = "INVALID_REQUEST";
    pub const INVALID_AMOUNT: &str = "INVALID_AMOUNT";
    /// Text with a NUL (U+0000), which is refused rather than altered.
    pub const INVALID_CHARACTER: &str = "INVALID_CHARACTER";
    pub const INVALID_ASSET: &str = "INVALID_ASSET";
    pub const UNKNOWN_ACCOUNT: &str = "UNKNOWN_ACCOUNT";
    /// Not a G account address (a muxed M address included).
    pub const INVALID_ACCOUNT: &str = "INVALID_ACCOUNT";
    /// The account is watched already, with another start or label.
    pub const ACCOUNT_EXISTS: &str = "ACCOUNT_EXISTS";
    /// A watched account with pending or processing sessions is not removed.
    pub const ACCOUNT_HAS_OPEN_SESSIONS: &str = "ACCOUNT_HAS_OPEN_SESSIONS";
    /// Horizon did not answer a read the request needs (`start_cursor: now`, a refund's
    /// accounts): retry after `Retry-After`.
    pub const LEDGER_UNAVAILABLE: &str = "LEDGER_UNAVAILABLE";
    /// A refund request names neither or both of `unmatched_id` and `session_id`.
    pub const REFUND_SOURCE_REQUIRED: &str = "REFUND_SOURCE_REQUIRED";
    /// The source holds nothing (more) to refund by default: no overpaid part left, or an
    /// unmatched payment of unknown amount or asset.
    pub const REFUND_NOTHING_TO_REFUND: &str = "REFUND_NOTHING_TO_REFUND";
    /// The amount is more than what is left to refund from the source.
    pub const REFUND_EXCEEDS_REFUNDABLE: &str = "REFUND_EXCEEDS_REFUNDABLE";
    /// Only an `awaiting_signature` refund can be prepared again or canceled.
    pub const REFUND_NOT_AWAITING_SIGNATURE: &str = "REFUND_NOT_AWAITING_SIGNATURE";
    /// The destination account does not exist on the ledger.
    pub const REFUND_DESTINATION_MISSING: &str = "REFUND_DESTINATION_MISSING";
    /// No (authorized) trustline for the asset, or no room under its limit.
    pub const REFUND_DESTINATION_CANNOT_RECEIVE: &str = "REFUND_DESTINATION_CANNOT_RECEIVE";
    /// The payer is a contract (`C…`): not refundable yet.
    pub const REFUND_UNSUPPORTED_SOURCE: &str = "REFUND_UNSUPPORTED_SOURCE";
    /// No payer is known (a payment recorded before payers were kept): give `destination`.
    pub const REFUND_PAYER_UNKNOWN: &str = "REFUND_PAYER_UNKNOWN";
    /// `destination` is not a valid G or M address (its checksum, say).
    pub const REFUND_INVALID_DESTINATION: &str = "REFUND_INVALID_DESTINATION";
    /// `memo` does not fit its type (a text over 28 bytes, an id that is no u64, a hash that is
    /// not 64 hex characters).
    pub const REFUND_INVALID_MEMO: &str = "REFUND_INVALID_MEMO";
    /// A stale envelope's sequence number was used by the envelope itself: it landed.
    pub const REFUND_ENVELOPE_LANDED: &str = "REFUND_ENVELOPE_LANDED";
    /// The merchant account that would send the refund is not on the ledger.
    pub const REFUND_SOURCE_ACCOUNT_MISSING: &str = "REFUND_SOURCE_ACCOUNT_MISSING";
    pub const INVALID_TX_HASH: &str = "INVALID_TX_HASH";
    pub const IDEMPOTENCY_KEY_REQUIRED: &str = "IDEMPOTENCY_KEY_REQUIRED";
    pub const IDEMPOTENCY_KEY_REUSED: &str = "IDEMPOTENCY_KEY_REUSED";
    pub const IDEMPOTENCY_KEY_IN_USE: &str = "IDEMPOTENCY_KEY_IN_USE";
    pub const SESSION_NOT_FOUND: &str = "SESSION_NOT_FOUND";
    pub const INVALID_SESSION_STATE: &str = "INVALID_SESSION_STATE";
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    pub const REQUEST_TIMEOUT: &str = "REQUEST_TIMEOUT";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    pub const NOT_READY: &str = "NOT_READY";
    /// A feed's `after` names no row (pruned, or never one).
    pub const UNKNOWN_CURSOR: &str = "UNKNOWN_CURSOR";
    /// Only a dead webhook delivery can be retried.
    pub const INVALID_DELIVERY_STATE: &str = "INVALID_DELIVERY_STATE";
    /// A session names a `webhook_url`, but no signing secret is configured, so nothing could
    /// ever be delivered to it.
    pub const WEBHOOKS_NOT_CONFIGURED: &str = "WEBHOOKS_NOT_CONFIGURED";
    /// The database is unreachable or failing over: retry after `Retry-After`.
    pub const DATABASE_UNAVAILABLE: &str = "DATABASE_UNAVAILABLE";
    pub const INTERNAL: &str = "INTERNAL_SERVER_ERROR";
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable (e.g. `SESSION_NOT_FOUND`).
    pub code: String,
    /// For humans; may change between releases.
    pub message: String,
}

/// Marks a 500 so the request-context middleware can add the request id to its message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InternalErrorMarker;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The database's class of a transient failure behind a DATABASE_UNAVAILABLE, so the
    /// handlers' retry ([`super::db`]) can tell an outage from an answer.
    transient: Option<ErrorClass>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            transient: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// `what` (`delivery 7`) names nothing.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            format!("{what} not found"),
        )
    }

    pub fn session_not_found(id: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code::SESSION_NOT_FOUND,
            format!("session {id} not found"),
        )
    }

    pub fn invalid_state(status: SessionStatus, action: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            code::INVALID_SESSION_STATE,
            format!("cannot {action}: the session is {status}"),
        )
    }

    pub fn key_in_use() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            code::IDEMPOTENCY_KEY_IN_USE,
            "a request with this Idempotency-Key is still being processed; retry later",
        )
    }

    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            code::PAYLOAD_TOO_LARGE,
            format!("request body exceeds {} bytes", super::body::MAX_BODY_BYTES),
        )
    }

    /// A failure whose detail must not reach the client: it is logged (with the request id,
    /// from the request's span) and the client gets a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "admin request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL,
            "internal server error",
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Seconds a client is asked to wait after DATABASE_UNAVAILABLE.
const DATABASE_RETRY_AFTER_SECS: u32 = 2;
/// Seconds a client is asked to wait after LEDGER_UNAVAILABLE (Horizon's own pacing is in
/// seconds too).
const LEDGER_RETRY_AFTER_SECS: u32 = 5;

impl From<StoreError> for ApiError {
    /// An outage (connection loss, failover, a full pool: whatever a retry may cure) is 503
    /// DATABASE_UNAVAILABLE, so a client can tell it from a bug; anything else is a 500. The
    /// handlers' retry logs each transient failure, and the one it gives up on.
    fn from(e: StoreError) -> Self {
        let class = e.class();
        if let ErrorClass::Transient(_) = class {
            let mut error = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code::DATABASE_UNAVAILABLE,
                "the database is unavailable; retry later",
            );
            error.transient = Some(class);
            return error;
        }
        ApiError::internal(e)
    }
}

/// Only a transient database failure is retried; every other answer (a 404, a 409, a 500 that
/// is already logged) is the request's.
impl Retryable for ApiError {
    fn db_class(&self) -> Option<ErrorClass> {
        self.transient
    }
}

/// Lets handlers use `ApiError` as a diesel-async transaction's error type.
impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        ApiError::internal(StoreError::from(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json_response(self.status, &self.body());
        if self.code == code::DATABASE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, DATABASE_RETRY_AFTER_SECS.into());
        }
        if self.code == code::LEDGER_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, LEDGER_RETRY_AFTER_SECS.into());
        }
        if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            response.extensions_mut().insert(InternalErrorMarker);
        }
        response
    }
}
