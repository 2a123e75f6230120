use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::idempotency_keys;

/// A client's idempotency key and, once the first request finished, the
/// response to replay.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = idempotency_keys, primary_key(key))]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct IdempotencyKeyRow {
    pub key: String,
    /// sha256 of the request; a reused key with another request is refused.
    pub request_fingerprint: Vec<u8>,
    pub response_status: Option<i16>,
    /// Replayed byte for byte.
    pub response_body: Option<Vec<u8>>,
    /// Set while the first request is in flight.
    pub locked_at: Option<DateTime<Utc>>,
    pub session_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = idempotency_keys, check_for_backend(diesel::pg::Pg))]
pub struct NewIdempotencyKey {
    pub key: String,
    pub request_fingerprint: Vec<u8>,
    pub locked_at: Option<DateTime<Utc>>,
}
