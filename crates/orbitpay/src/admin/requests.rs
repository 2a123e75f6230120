//! What the requests carry: the bodies and query strings, parsed and validated before a
//! handler touches the store.

use std::time::Duration;

use axum::extract::Query;
use axum::http::Uri;
use orbitpay_core::{AccountId, Amount, Asset};
use serde::Deserialize;
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::{ApiError, code};
use super::views::SessionStatusSchema;
use super::{AdminState, MAX_METADATA_BYTES};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;
const MIN_EXPIRES_IN: u64 = 60;
const MAX_EXPIRES_IN: u64 = 31 * 24 * 3600;

/// A path id that is not a UUID names no session.
pub(super) fn session_id(raw: &str) -> Result<Uuid, ApiError> {
    let id = Uuid::try_parse(raw)
        .map_err(|_| ApiError::session_not_found(raw.chars().take(64).collect::<String>()))?;
    tracing::Span::current().record("session_id", tracing::field::display(id));
    Ok(id)
}

pub(super) fn query<T: serde::de::DeserializeOwned>(uri: &Uri) -> Result<T, ApiError> {
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
fn reject_nul(field: &str, text: &str) -> Result<(), ApiError> {
    if text.contains('\0') {
        return Err(ApiError::bad_request(
            code::INVALID_CHARACTER,
            format!("{field} must not contain NUL (U+0000)"),
        ));
    }
    Ok(())
}

/// [`reject_nul`] over every key and string value of a JSON document.
fn reject_nul_in_json(field: &str, value: &serde_json::Value) -> Result<(), ApiError> {
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

/// A list request's page size: its `limit` when that is 1-500, 50 when it gives none.
pub(super) fn page_limit(requested: Option<i64>) -> Result<i64, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            code::INVALID_REQUEST,
            format!("limit {n} must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// The cursor a page hands back: a full page may have more rows after its last one, a
/// shorter page is the end.
pub(super) fn next_after<T, K>(rows: &[T], limit: i64, key: impl FnOnce(&T) -> K) -> Option<K> {
    (rows.len() as i64 == limit)
        .then(|| rows.last().map(key))
        .flatten()
}

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
    /// The merchant's order reference (at most 255 characters). Text fields, metadata keys and
    /// values and query parameters never hold NUL (U+0000): 400 INVALID_CHARACTER.
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
        .description(Some("Decimal amount, a string or a JSON number, > 0 with at most 7 decimals; parsed exactly from its text. Anything else (another type, `1e10`, `+1`, ` 1`, `NaN`, zero, more decimals, out of range) is 400 INVALID_AMOUNT."))
        .examples(["12.5"])
        .build()
        .into()
}

/// An amount from its JSON text. Whatever is wrong with it (a wrong type, text that is not a
/// plain decimal like `1e10`, `+1`, ` 1` or `NaN`, zero, too many decimals, out of range) is
/// INVALID_AMOUNT; ERROR_BAD_JSON is kept for a body that is not the request's JSON at all.
fn parse_amount(raw: &RawValue) -> Result<Amount, ApiError> {
    let invalid = |msg: String| ApiError::bad_request(code::INVALID_AMOUNT, msg);
    let text = raw.get().trim();
    let text: String = if text.starts_with('"') {
        serde_json::from_str(text).map_err(|e| invalid(format!("amount: {e}")))?
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        text.to_owned()
    } else {
        return Err(invalid(
            "amount must be a decimal string or number".to_owned(),
        ));
    };
    match text.parse::<Amount>() {
        Ok(a) if a.is_zero() => Err(invalid("amount must be greater than 0".to_owned())),
        Ok(a) => Ok(a),
        Err(_)
            if text
                .strip_prefix('-')
                .is_some_and(|t| t.parse::<Amount>().is_ok()) =>
        {
            Err(invalid("amount must be greater than 0".to_owned()))
        }
        Err(e) => Err(invalid(format!(
            "amount {:?}: {e}",
            text.chars().take(40).collect::<String>()
        ))),
    }
}

/// A validated create request, waiting for the database clock to fix `expires_at`.
pub(super) struct Draft {
    pub(super) account: AccountId,
    pub(super) asset: Asset,
    pub(super) amount: Amount,
    pub(super) expires_in: Duration,
    pub(super) metadata: serde_json::Value,
    pub(super) order_id: Option<String>,
    pub(super) webhook_url: Option<String>,
}

pub(super) fn validate_create(
    state: &AdminState,
    req: CreateSessionRequest,
) -> Result<Draft, ApiError> {
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
    for (field, text) in [
        ("order_id", req.order_id.as_deref()),
        ("webhook_url", req.webhook_url.as_deref()),
        ("asset", Some(req.asset.as_str())),
        ("account", req.account.as_deref()),
    ] {
        reject_nul(field, text.unwrap_or(""))?;
    }
    if let Some(m) = &req.metadata {
        reject_nul_in_json("metadata", m)?;
    }
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

/// `POST /v1/sessions/{id}/payments` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportTxRequest {
    /// The transaction's hash, 64 hex characters.
    #[schema(example = "b9d0b2292c4e09e8eb22d036171491e87b8d2086bf8b265874c8d182cb9c9020")]
    pub tx_hash: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// The `next_after` of the previous page (default 0: from the start).
    pub after: Option<i64>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<i64>,
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
            ("\"one fifty rupees\"", code::INVALID_AMOUNT),
            ("true", code::INVALID_AMOUNT),
            ("null", code::INVALID_AMOUNT),
            ("1e5", code::INVALID_AMOUNT),
            ("\"1e10\"", code::INVALID_AMOUNT),
            ("\"+1\"", code::INVALID_AMOUNT),
            ("\" 1\"", code::INVALID_AMOUNT),
            ("\"NaN\"", code::INVALID_AMOUNT),
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

    #[test]
    fn page_limits_and_cursors() {
        assert_eq!(page_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(page_limit(Some(1)).unwrap(), 1);
        assert_eq!(page_limit(Some(MAX_LIMIT)).unwrap(), MAX_LIMIT);
        for n in [0, -1, MAX_LIMIT + 1] {
            assert_eq!(
                page_limit(Some(n)).unwrap_err().code,
                code::INVALID_REQUEST,
                "{n}"
            );
        }
        assert_eq!(next_after(&[7, 8], 2, |r| *r), Some(8));
        assert_eq!(next_after(&[7], 2, |r| *r), None);
        assert_eq!(next_after(&[] as &[i64], 2, |r| *r), None);
    }
}
