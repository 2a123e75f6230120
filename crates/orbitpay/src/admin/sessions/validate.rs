//! A create request, validated before the handler touches the store.

use std::time::Duration;

use axum::http::StatusCode;
use orbitpay_core::{AccountId, Amount, AmountError, Asset};
use serde_json::value::RawValue;

use super::json::CreateSessionRequest;
use crate::admin::state::AdminState;
use crate::admin::support::error::{ApiError, code};
use crate::admin::support::input::{reject_nul, reject_nul_in_json};

/// Largest `metadata` object, serialized.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
const MIN_EXPIRES_IN: u64 = 60;

const MAX_EXPIRES_IN: u64 = 31 * 24 * 3600;

/// An amount from its JSON text, which must be a string. Text that is not a decimal number at
/// all (`"one fifty rupees"`, `"1e10"`, `"NaN"`, `" 1"`, `""`), or a value that is not a string
/// (a JSON number, `true`, `null`), is not the request's JSON: ERROR_BAD_JSON, naming the field.
/// A well-formed decimal the asset cannot take (zero, negative, more than 7 decimals, above the
/// int64 maximum of stroops) is INVALID_AMOUNT.
pub(crate) fn parse_amount(raw: &RawValue) -> Result<Amount, ApiError> {
    let invalid = |msg: String| ApiError::bad_request(code::INVALID_AMOUNT, msg);
    let bad_json = |msg: String| ApiError::bad_request(code::BAD_JSON, msg);
    let quoted = |text: &str| format!("{:?}", text.chars().take(40).collect::<String>());
    let text = raw.get().trim();
    if !text.starts_with('"') {
        return Err(bad_json(format!(
            "amount must be a decimal string like \"12.5\", not {}",
            quoted(text)
        )));
    }
    let text: String = serde_json::from_str(text).map_err(|e| bad_json(format!("amount: {e}")))?;
    let (negative, magnitude) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    match magnitude.parse::<Amount>() {
        Err(AmountError::Empty | AmountError::Malformed(_) | AmountError::Negative) => {
            Err(bad_json(format!(
                "amount {} is not a decimal number (digits, optionally one '.' and decimals)",
                quoted(&text)
            )))
        }
        Err(e @ (AmountError::TooPrecise(_) | AmountError::OutOfRange(_))) => {
            Err(invalid(e.to_string()))
        }
        Ok(a) if negative || a.is_zero() => Err(invalid(format!(
            "amount {} must be greater than 0",
            quoted(&text)
        ))),
        Ok(a) => Ok(a),
    }
}

/// A validated create request, waiting for the database clock to fix `expires_at`.
pub(super) struct Draft {
    /// As asked; `None` is the default receiver ([`receiver`] resolves both).
    pub(super) account: Option<AccountId>,
    pub(super) asset: Asset,
    pub(super) amount: Amount,
    pub(super) expires_in: Duration,
    pub(super) metadata: serde_json::Value,
    pub(super) order_id: Option<String>,
    pub(super) webhook_url: Option<String>,
}

/// The session's receiving account, as the `watched_accounts` table says now: the one asked
/// for if it is watched; by default the first configured account still watched, else the
/// account added first.
pub(super) async fn receiver(
    state: &AdminState,
    conn: &mut orbitpay_store::AsyncPgConnection,
    asked: Option<AccountId>,
) -> Result<AccountId, ApiError> {
    use orbitpay_store::accounts;
    match asked {
        Some(account) => match accounts::find(conn, &account).await? {
            Some(_) => Ok(account),
            None => Err(ApiError::bad_request(
                code::UNKNOWN_ACCOUNT,
                format!("account {account} is not a watched account"),
            )),
        },
        None => {
            for configured in &state.accounts {
                if accounts::find(conn, configured).await?.is_some() {
                    return Ok(*configured);
                }
            }
            accounts::first(conn).await?.ok_or_else(|| {
                ApiError::bad_request(code::UNKNOWN_ACCOUNT, "no account is watched")
            })
        }
    }
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
        None => None,
        Some(text) => text.parse::<AccountId>().ok().map(Some).ok_or_else(|| {
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
        if !state.webhooks_configured {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code::WEBHOOKS_NOT_CONFIGURED,
                "webhook_url needs a webhook signing secret (webhooks.secret_file or the \
                 webhook-secret credential), and none is configured: nothing could be delivered",
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
        assert_eq!(
            parse_amount(&raw("\"922337203685.4775807\"")).unwrap(),
            Amount::MAX
        );
        for (text, code) in [
            // Not a decimal number at all, or not a string: the request's JSON is wrong.
            ("\"one fifty rupees\"", code::BAD_JSON),
            ("\"1e10\"", code::BAD_JSON),
            ("\"+1\"", code::BAD_JSON),
            ("\" 1\"", code::BAD_JSON),
            ("\"NaN\"", code::BAD_JSON),
            ("\"\"", code::BAD_JSON),
            ("\"-\"", code::BAD_JSON),
            ("\"--5\"", code::BAD_JSON),
            ("\"1.\"", code::BAD_JSON),
            ("12.5", code::BAD_JSON),
            ("1e5", code::BAD_JSON),
            ("-5", code::BAD_JSON),
            ("true", code::BAD_JSON),
            ("null", code::BAD_JSON),
            ("{}", code::BAD_JSON),
            // A decimal the asset cannot take.
            ("\"0\"", code::INVALID_AMOUNT),
            ("\"0.0000000\"", code::INVALID_AMOUNT),
            ("\"-5\"", code::INVALID_AMOUNT),
            ("\"-0\"", code::INVALID_AMOUNT),
            ("\"-1.00000001\"", code::INVALID_AMOUNT),
            ("\"1.00000001\"", code::INVALID_AMOUNT),
            ("\"922337203685.4775808\"", code::INVALID_AMOUNT),
            ("\"99999999999999999999999999\"", code::INVALID_AMOUNT),
        ] {
            let err = parse_amount(&raw(text)).unwrap_err();
            assert_eq!(err.code, code, "{text}");
            assert!(err.message.starts_with("amount"), "{text}: {}", err.message);
        }
    }
}
