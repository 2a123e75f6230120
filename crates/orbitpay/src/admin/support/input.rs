//! Client text, checked the same way wherever it arrives: query strings, path ids, bodies.

use std::str::FromStr;

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Query};
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

/// A path parameter, through axum's `Path`, whose rejection (text that is not UTF-8 once
/// percent-decoded, or a value that does not parse as `T`) is the API's JSON error rather than
/// the framework's plain text. Ids are taken as `PathParam<String>` and parsed by [`path_id`],
/// so an id that does not parse is a 404 like one that names nothing.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct PathParam<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        ApiError::bad_request(
            code::INVALID_REQUEST,
            format!("invalid path: {}", e.body_text()),
        )
    }
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
