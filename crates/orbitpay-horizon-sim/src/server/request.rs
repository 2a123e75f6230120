//! Request parsing: query strings, headers, and Horizon's paging parameters (its
//! `GetPageQuery`, `validateAndAdjustCursor` and `OperationsQuery`).

use axum::http::{HeaderMap, header};
use orbitpay_core::toid;

use crate::HorizonSim;
use crate::model::Ledger;
use crate::render::Problem;

/// Splits and percent-decodes a query string (`+` is a space, invalid UTF-8 is replaced),
/// keeping order.
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

pub(super) fn param<'a>(q: &'a [(String, String)], name: &str) -> &'a str {
    q.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

pub(super) fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

pub(super) fn base_url(sim: &HorizonSim, headers: &HeaderMap) -> String {
    if let Some(b) = &sim.settings().base_url {
        return b.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

pub(crate) struct PageParams {
    /// The cursor as used for links (after `now` and `Last-Event-ID` resolution).
    pub(super) cursor: String,
    /// Exclusive bound: asc → tokens > after; desc → tokens < after.
    pub(super) after: i64,
    pub(super) asc: bool,
    pub(super) limit: usize,
    pub(super) include_failed: bool,
    pub(super) join_tx: bool,
}

fn parse_bool(field: &str, v: &str) -> Result<bool, Problem> {
    match v {
        "" => Ok(false),
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(Problem::invalid_field(field, "invalid bool value")),
    }
}

pub(super) fn page_params(
    q: &[(String, String)],
    headers: &HeaderMap,
    ledger: &Ledger,
) -> Result<PageParams, Problem> {
    let mut cursor = param(q, "cursor").to_owned();
    if cursor == "now" {
        // toid.AfterLedger(latest): after every operation of the latest ledger.
        cursor = (toid::ledger_start(ledger.latest + 1) - 1).to_string();
    }
    if let Some(v) = headers.get("last-event-id") {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        if !v.is_empty() {
            cursor = v;
        }
    }
    if let Ok(n) = cursor.parse::<i64>()
        && n < 0
    {
        return Err(Problem::invalid_field(
            "cursor",
            &format!("the cursor {n} is a negative number: "),
        ));
    }
    let asc = match param(q, "order") {
        "" | "asc" => true,
        "desc" => false,
        _ => return Err(Problem::invalid_field("order", "order: invalid value")),
    };
    let limit = match param(q, "limit") {
        "" => 10,
        s => {
            let n: i64 = s
                .parse()
                .map_err(|_| Problem::invalid_field("limit", "unparseable value"))?;
            if n <= 0 {
                return Err(Problem::invalid_field(
                    "limit",
                    "invalid limit: non-positive value provided",
                ));
            }
            if n > 200 {
                return Err(Problem::invalid_field(
                    "limit",
                    "invalid limit: value provided that is over limit max of 200",
                ));
            }
            n as usize
        }
    };
    let parsed: Option<i64> = if cursor.is_empty() {
        None
    } else {
        Some(
            cursor
                .parse()
                .map_err(|_| Problem::invalid_field("cursor", "invalid value"))?,
        )
    };
    let floor = toid::ledger_start(ledger.elder());
    let after = if asc {
        // Before history (or no cursor): start at the oldest retained ledger, silently.
        match parsed {
            Some(c) if c > floor => c,
            _ => floor - 1,
        }
    } else {
        match parsed {
            None => i64::MAX,
            Some(c) if c <= floor => return Err(Problem::before_history()),
            Some(c) => c,
        }
    };
    let include_failed = parse_bool("include_failed", param(q, "include_failed"))?;
    let join_tx = match param(q, "join") {
        "" => false,
        "transactions" => true,
        _ => {
            return Err(Problem::invalid_field(
                "join",
                "Accepted values: transactions",
            ));
        }
    };
    Ok(PageParams {
        cursor,
        after,
        asc,
        limit,
        include_failed,
        join_tx,
    })
}

pub(super) fn valid_hash(h: &str) -> bool {
    h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::parse_query;

    /// `+` is a space, `%2B` a plus, an invalid or cut-off escape stays literal, and bytes that
    /// are not UTF-8 become U+FFFD.
    #[test]
    fn query_decoding_is_form_urlencoded() {
        let got = parse_query("a=1%2B2&b=x+y&c=%zz%4&&d&e=%FF%41&f%3D=g=h");
        let want = [
            ("a", "1+2"),
            ("b", "x y"),
            ("c", "%zz%4"),
            ("d", ""),
            ("e", "\u{FFFD}A"),
            ("f=", "g=h"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
    }
}
