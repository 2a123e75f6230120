//! HAL pages, the root document and problem bodies.

use serde::Serialize;

use super::{Link, link, rfc3339, templated};
use crate::model::Ledger;

#[derive(Serialize)]
struct PageLinks {
    #[serde(rename = "self")]
    self_: Link,
    next: Link,
    prev: Link,
}

#[derive(Serialize)]
struct Embedded<T> {
    records: Vec<T>,
}

#[derive(Serialize)]
pub(crate) struct Page<T> {
    _links: PageLinks,
    _embedded: Embedded<T>,
}

/// What a page's links are built from.
pub(crate) struct PageSpec<'a> {
    pub base: &'a str,
    pub path: &'a str,
    pub params: &'a [(String, String)],
    pub cursor: &'a str,
    pub asc: bool,
    pub limit: usize,
}

/// Builds a HAL page as Horizon's `hal.Page.PopulateLinks` does: the request's query
/// parameters are kept (sorted by key, as Go's `url.Values.Encode`), `cursor`/`order`/`limit`
/// are set; `next` moves the cursor to the last record, `prev` inverts the order and moves it to
/// the first record; on an empty page both keep the request's cursor.
pub(crate) fn page<T>(
    spec: &PageSpec<'_>,
    first_last: Option<(String, String)>,
    records: Vec<T>,
) -> Page<T> {
    let (order, inv) = if spec.asc {
        ("asc", "desc")
    } else {
        ("desc", "asc")
    };
    let build = |cursor: &str, order: &str| {
        let mut q: Vec<(String, String)> = spec
            .params
            .iter()
            .filter(|(k, _)| k != "cursor" && k != "order" && k != "limit")
            .cloned()
            .collect();
        q.push(("cursor".into(), cursor.into()));
        q.push(("order".into(), order.into()));
        q.push(("limit".into(), spec.limit.to_string()));
        q.sort_by(|a, b| a.0.cmp(&b.0));
        let enc: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
            .collect();
        link(format!("{}{}?{}", spec.base, spec.path, enc.join("&")))
    };
    let (next_c, prev_c) = match &first_last {
        Some((first, last)) => (last.as_str(), first.as_str()),
        None => (spec.cursor, spec.cursor),
    };
    Page {
        _links: PageLinks {
            self_: build(spec.cursor, order),
            next: build(next_c, order),
            prev: build(prev_c, inv),
        },
        _embedded: Embedded { records },
    }
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[derive(Serialize)]
struct RootLinks {
    account: Link,
    accounts: Link,
    effects: Link,
    ledger: Link,
    ledgers: Link,
    operation: Link,
    operations: Link,
    payments: Link,
    #[serde(rename = "self")]
    self_: Link,
    transaction: Link,
    transactions: Link,
}

#[derive(Serialize)]
pub(crate) struct Root {
    _links: RootLinks,
    horizon_version: &'static str,
    core_version: &'static str,
    ingest_latest_ledger: u32,
    history_latest_ledger: u32,
    history_latest_ledger_closed_at: String,
    history_elder_ledger: u32,
    core_latest_ledger: u32,
    network_passphrase: String,
    current_protocol_version: u32,
    supported_protocol_version: u32,
    core_supported_protocol_version: u32,
}

pub const PROTOCOL_VERSION: u32 = 23;

pub(crate) fn root(base: &str, ledger: &Ledger, passphrase: &str) -> Root {
    Root {
        _links: RootLinks {
            account: templated(format!("{base}/accounts/{{account_id}}")),
            accounts: templated(format!(
                "{base}/accounts{{?signer,sponsor,asset,liquidity_pool,cursor,limit,order}}"
            )),
            effects: templated(format!("{base}/effects{{?cursor,limit,order}}")),
            ledger: templated(format!("{base}/ledgers/{{sequence}}")),
            ledgers: templated(format!("{base}/ledgers{{?cursor,limit,order}}")),
            operation: templated(format!("{base}/operations/{{id}}")),
            operations: templated(format!(
                "{base}/operations{{?cursor,limit,order,include_failed}}"
            )),
            payments: templated(format!(
                "{base}/payments{{?cursor,limit,order,include_failed}}"
            )),
            self_: link(format!("{base}/")),
            transaction: templated(format!("{base}/transactions/{{hash}}")),
            transactions: templated(format!("{base}/transactions{{?cursor,limit,order}}")),
        },
        horizon_version: concat!("orbitpay-horizon-sim-", env!("CARGO_PKG_VERSION")),
        core_version: "stellar-core (simulated)",
        ingest_latest_ledger: ledger.latest,
        history_latest_ledger: ledger.latest,
        history_latest_ledger_closed_at: rfc3339(ledger.close_time(ledger.latest)),
        history_elder_ledger: ledger.elder(),
        core_latest_ledger: ledger.latest,
        network_passphrase: passphrase.to_owned(),
        current_protocol_version: PROTOCOL_VERSION,
        supported_protocol_version: PROTOCOL_VERSION,
        core_supported_protocol_version: PROTOCOL_VERSION,
    }
}

/// An `application/problem+json` body (Horizon's `problem.P`).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extras: Option<serde_json::Map<String, serde_json::Value>>,
}

const PROBLEM_BASE: &str = "https://stellar.org/horizon-errors/";

impl Problem {
    fn new(kind: &str, title: &str, status: u16, detail: &str) -> Problem {
        Problem {
            type_: format!("{PROBLEM_BASE}{kind}"),
            title: title.to_owned(),
            status,
            detail: detail.to_owned(),
            extras: None,
        }
    }

    pub fn not_found() -> Problem {
        Problem::new(
            "not_found",
            "Resource Missing",
            404,
            "The resource at the url requested was not found.  This usually occurs for one of \
             two reasons:  The url requested is not valid, or no data in our database could be \
             found with the parameters provided.",
        )
    }

    /// Horizon's `MakeInvalidFieldProblem(field, reason)`.
    pub fn invalid_field(field: &str, reason: &str) -> Problem {
        let mut p = Problem::new(
            "bad_request",
            "Bad Request",
            400,
            "The request you sent was invalid in some way.",
        );
        let mut extras = serde_json::Map::new();
        extras.insert("invalid_field".into(), field.into());
        extras.insert("reason".into(), reason.into());
        p.extras = Some(extras);
        p
    }

    pub fn before_history() -> Problem {
        Problem::new(
            "before_history",
            "Data Requested Is Before Recorded History",
            410,
            "This horizon instance is configured to only track a portion of the Stellar \
             network's latest history. This request is asking for results prior to the recorded \
             history known to this horizon instance.",
        )
    }

    pub fn rate_limited() -> Problem {
        Problem::new(
            "rate_limit_exceeded",
            "Rate Limit Exceeded",
            429,
            "The rate limit for the requesting IP address is over its alloted limit.  The \
             allowed limit and requests left per time period are communicated to clients via \
             the http response headers 'X-RateLimit-*' headers.",
        )
    }

    /// A 5xx problem with Horizon's type/title/detail for the common statuses.
    pub fn server(status: u16) -> Problem {
        match status {
            503 => Problem::new(
                "service_unavailable",
                "Service Unavailable",
                503,
                "The request cannot be serviced at this time.",
            ),
            504 => Problem::new(
                "timeout",
                "Timeout",
                504,
                "Your request timed out before completing.  Please try your request again. If \
                 you are submitting a transaction make sure you are sending exactly the same \
                 transaction (with the same sequence number).",
            ),
            s => Problem::new(
                "server_error",
                "Internal Server Error",
                s,
                "An error occurred while processing this request.  This is usually due to a bug \
                 within the server software.  Trying this request again may succeed if the bug \
                 is transient, otherwise please report this issue to the issue tracker at: \
                 https://github.com/stellar/stellar-horizon/issues. Please include this response \
                 in your issue.",
            ),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct LedgerLinks {
    #[serde(rename = "self")]
    self_: Link,
    transactions: Link,
    operations: Link,
    payments: Link,
}

/// A ledger record (`GET /ledgers/{sequence}`), with the fields a reader of close times needs.
#[derive(Serialize)]
pub(crate) struct LedgerRecord {
    _links: LedgerLinks,
    id: String,
    paging_token: String,
    hash: String,
    sequence: u32,
    closed_at: String,
}

pub(crate) fn ledger_record(base: &str, ledger: &Ledger, sequence: u32) -> LedgerRecord {
    let hash = hex::encode(crate::model::sha(&[b"ledger", &sequence.to_be_bytes()]));
    let own = format!("{base}/ledgers/{sequence}");
    LedgerRecord {
        _links: LedgerLinks {
            self_: link(own.clone()),
            transactions: templated(format!("{own}/transactions{{?cursor,limit,order}}")),
            operations: templated(format!("{own}/operations{{?cursor,limit,order}}")),
            payments: templated(format!("{own}/payments{{?cursor,limit,order}}")),
        },
        id: hash.clone(),
        paging_token: (i64::from(sequence) << 32).to_string(),
        hash,
        sequence,
        closed_at: rfc3339(ledger.close_time(sequence)),
    }
}
