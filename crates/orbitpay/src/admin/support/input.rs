//! Client text, checked the same way wherever it arrives: query strings, path ids, bodies.

use std::str::FromStr;

use axum::extract::Query;
use axum::http::Uri;

use super::error::{ApiError, code};

pub(crate) fn query<T: serde::de::DeserializeOwned>(uri: &Uri) -> Result<T, ApiError> {
    for (key, value) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        reject_nul(&format!("query parameter {key:?}"), &key)?;
        reject_nul(&format!("query parameter {key:?}"), &value)?;
    }
    Query::<T>::try_from_uri(uri)
        .map(|Query(q)| q)
        .map_err(|e| {
            ApiError::bad_request(
                code::INVALID_REQUEST,
                format!("invalid query: {}", e.body_text()),
            )
        })
}

/// NUL (U+0000) is refused wherever a client's text is accepted: PostgreSQL text cannot hold it,
/// and silently dropping it would store something other than what was sent.
pub(crate) fn reject_nul(field: &str, text: &str) -> Result<(), ApiError> {
    if text.contains('\0') {
        return Err(ApiError::bad_request(
            code::INVALID_CHARACTER,
            format!("{field} must not contain NUL (U+0000)"),
        ));
    }
    Ok(())
}

/// [`reject_nul`] over every key and string value of a JSON document.
pub(crate) fn reject_nul_in_json(field: &str, value: &serde_json::Value) -> Result<(), ApiError> {
    match value {
        serde_json::Value::String(s) => reject_nul(field, s),
        serde_json::Value::Array(items) => {
            items.iter().try_for_each(|v| reject_nul_in_json(field, v))
        }
        serde_json::Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            reject_nul(&format!("{field} key"), k)?;
            reject_nul_in_json(field, v)
        }),
        _ => Ok(()),
    }
}

/// A path id, taken as text and parsed here: one that does not parse names nothing (404
/// `NOT_FOUND` in the API's error body, where axum's own rejection would be a text 400).
pub(crate) fn path_id<T: FromStr>(what: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::not_found(format!(
            "{what} {:?}",
            raw.chars().take(64).collect::<String>()
        ))
    })
}
