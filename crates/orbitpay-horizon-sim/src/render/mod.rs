//! Horizon's JSON: operation records, transactions, pages, effects, the root document and
//! problem bodies, with Horizon's field names, field order and value types.
//!
//! Output is encoded like Go's `encoding/json`: `&`, `<`, `>`, U+2028 and U+2029 are escaped as
//! `\u0026`…; REST bodies are indented by two spaces (Horizon's `json.MarshalIndent`) and SSE
//! data lines are compact.

mod account;
mod effects;
mod gojson;
mod operations;
mod pages;
mod transactions;

use orbitpay_core::{Address, Amount, Asset};
use serde::Serialize;

pub(crate) use account::account_record;
pub(crate) use effects::effects;
pub use gojson::{to_compact, to_pretty};
pub(crate) use operations::op_record;
pub use pages::Problem;
pub(crate) use pages::{PageSpec, ledger_record, page, root};
pub(crate) use transactions::tx_record;

pub(crate) fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .expect("close time in range")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[derive(Serialize, Clone)]
pub struct Link {
    pub href: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub templated: bool,
}

fn link(href: String) -> Link {
    Link {
        href,
        templated: false,
    }
}

fn templated(href: String) -> Link {
    Link {
        href,
        templated: true,
    }
}

#[derive(Serialize)]
struct AssetFields {
    asset_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    asset_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    asset_issuer: Option<String>,
}

fn asset_fields(a: &Asset) -> AssetFields {
    match a {
        Asset::Native => AssetFields {
            asset_type: "native",
            asset_code: None,
            asset_issuer: None,
        },
        Asset::Credit { code, issuer } => AssetFields {
            asset_type: code.asset_type(),
            asset_code: Some(code.as_str().to_owned()),
            asset_issuer: Some(issuer.to_string()),
        },
    }
}

#[derive(Serialize)]
struct SourceAssetFields {
    source_asset_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_asset_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_asset_issuer: Option<String>,
}

fn source_asset_fields(a: &Asset) -> SourceAssetFields {
    let f = asset_fields(a);
    SourceAssetFields {
        source_asset_type: f.asset_type,
        source_asset_code: f.asset_code,
        source_asset_issuer: f.asset_issuer,
    }
}

/// `(G, Some(M), Some(id))` for a muxed address, `(G, None, None)` for an account.
fn split(a: &Address) -> (String, Option<String>, Option<String>) {
    match a {
        Address::Account(g) => (g.to_string(), None, None),
        Address::Muxed(m) => (
            m.account.to_string(),
            Some(m.to_string()),
            Some(m.id.to_string()),
        ),
        Address::Contract(c) => (c.to_string(), None, None),
    }
}

fn amt(a: Amount) -> String {
    a.to_string()
}

const ZERO_AMOUNT: &str = "0.0000000";

/// Horizon's text memo rewrite (`utf8.Scrub` then NUL removal): every byte that does not start
/// a valid UTF-8 sequence becomes U+FFFD (one per byte, as Go's `utf8.DecodeRune` steps), and NUL
/// characters are dropped.
pub fn scrub_memo_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match std::str::from_utf8(&bytes[i..]) {
            Ok(s) => {
                out.push_str(s);
                break;
            }
            Err(e) => {
                let good = e.valid_up_to();
                out.push_str(std::str::from_utf8(&bytes[i..i + good]).expect("valid prefix"));
                i += good;
                // Go decodes an invalid or truncated sequence one byte at a time.
                out.push('\u{FFFD}');
                i += 1;
            }
        }
    }
    out.replace('\0', "")
}
