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

/// A JSON integer, written as JSON Schema counts integers: `60` or `60.0` (a number whose
/// fraction is zero), so what the document calls an integer is taken as one.
pub(crate) fn whole_number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::Deserialize as _;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = match (n.as_u64(), n.as_f64()) {
        (Some(v), _) => Some(v),
        // Exact below 2^53, far above any value these fields take.
        (None, Some(f)) if f.fract() == 0.0 && (0.0..9_007_199_254_740_992.0).contains(&f) => {
            Some(f as u64)
        }
        _ => None,
    };
    whole
        .and_then(|v| T::try_from(v).ok())
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(format!("{n} is not a non-negative integer in range"))
        })
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "super::whole_number")]
        id: Option<i64>,
    }

    #[test]
    fn an_integer_field_takes_a_whole_number_written_with_a_fraction_and_refuses_the_rest() {
        let id = |json: &str| serde_json::from_str::<Body>(json).map(|b| b.id);
        assert_eq!(id(r#"{"id": 1071}"#).unwrap(), Some(1071));
        assert_eq!(id(r#"{"id": 1071.0}"#).unwrap(), Some(1071));
        assert_eq!(id(r#"{}"#).unwrap(), None);
        assert!(id(r#"{"id": 1071.5}"#).is_err());
        assert!(id(r#"{"id": -1}"#).is_err());
        assert!(id(r#"{"id": 9223372036854775808}"#).is_err(), "past i64");
    }
}
