//! Reading request bodies: bounded in size and time, parsed strictly, canonicalized for
//! idempotency fingerprints.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::error::{ApiError, code};

/// Largest request body accepted (413 PAYLOAD_TOO_LARGE above).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Reads the whole body: at most [`MAX_BODY_BYTES`] (413 otherwise, refused up front when the
/// declared length is already too big) and within `timeout` (a client trickling its body in
/// ties up only its own connection, and not for long).
pub(crate) async fn read(
    headers: &HeaderMap,
    body: Body,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(ApiError::too_large());
    }
    let collect = Limited::new(body, MAX_BODY_BYTES).collect();
    match tokio::time::timeout(timeout, collect).await {
        Err(_) => Err(ApiError::new(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            code::REQUEST_TIMEOUT,
            format!(
                "request body not received within {}s",
                timeout.as_secs_f64()
            ),
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(ApiError::too_large()),
        Ok(Err(e)) => Err(ApiError::bad_request(
            code::BAD_JSON,
            format!("cannot read the request body: {e}"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// Parses a JSON body into `T`. Malformed JSON, a wrong type, a missing or unknown field are
/// all ERROR_BAD_JSON.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(code::BAD_JSON, format!("invalid JSON body: {e}")))
}

/// The canonical text of a JSON document: object keys sorted, insignificant whitespace
/// dropped, strings re-escaped uniformly, and numbers kept as their exact source text (no
/// detour through `f64`, which would make two different amounts look like the same request).
/// An empty body canonicalizes to the empty string.
pub(crate) fn canonical_json(bytes: &[u8]) -> Result<String, ApiError> {
    let bad = |e: serde_json::Error| {
        ApiError::bad_request(code::BAD_JSON, format!("invalid JSON body: {e}"))
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(String::new());
    }
    let raw: &RawValue = serde_json::from_slice(bytes).map_err(bad)?;
    let mut out = String::with_capacity(bytes.len());
    write_canonical(raw, &mut out).map_err(bad)?;
    Ok(out)
}

fn write_canonical(raw: &RawValue, out: &mut String) -> Result<(), serde_json::Error> {
    let text = raw.get().trim();
    match text.as_bytes().first() {
        Some(b'{') => {
            let map: BTreeMap<String, &RawValue> = serde_json::from_str(text)?;
            out.push('{');
            for (i, (key, value)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key)?);
                out.push(':');
                write_canonical(value, out)?;
            }
            out.push('}');
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text)?;
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out)?;
            }
            out.push(']');
        }
        Some(b'"') => {
            let s: String = serde_json::from_str(text)?;
            out.push_str(&serde_json::to_string(&s)?);
        }
        // Numbers, true, false, null: their text is already canonical enough and exact.
        _ => out.push_str(text),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a = canonical_json(br#"{"b": [1, {"y":2,"x":"\u0041"}], "a": "s"}"#).unwrap();
        let b = canonical_json(br#"{"a":"s","b":[1,{"x":"A","y":2}]}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, r#"{"a":"s","b":[1,{"x":"A","y":2}]}"#);
    }

    #[test]
    fn numbers_keep_their_exact_text() {
        let a = canonical_json(br#"{"amount": 922337203685.4775807}"#).unwrap();
        let b = canonical_json(br#"{"amount": 922337203685.4775806}"#).unwrap();
        assert_ne!(a, b);
        assert_eq!(a, r#"{"amount":922337203685.4775807}"#);
    }

    #[test]
    fn malformed_json_is_bad_json() {
        assert_eq!(canonical_json(b"{").unwrap_err().code, code::BAD_JSON);
        assert_eq!(canonical_json(b"").unwrap(), "");
    }
}
