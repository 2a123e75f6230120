//! Human output: aligned tables and key/value blocks over the API's JSON.

use std::io::{self, Write};

use serde_json::Value;

/// Text of a JSON value for a table cell: strings bare, null as `-`.
pub fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Writes rows under headers, columns padded to their widest cell.
pub fn table(out: &mut dyn Write, headers: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_owned()
    };
    writeln!(out, "{}", line(headers.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// Writes `key: value` lines, keys aligned.
pub fn key_values(out: &mut dyn Write, pairs: &[(&str, String)]) -> io::Result<()> {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in pairs {
        writeln!(out, "{:<width$}  {v}", format!("{k}:"), width = width + 1)?;
    }
    Ok(())
}

/// The session's pay URI, or why there is none: the API gives instructions only while the
/// session can take a payment (`payable`).
fn pay_uri(s: &Value) -> String {
    match s.get("payable") {
        Some(Value::Bool(false)) => format!("not payable ({})", cell(s.get("status"))),
        _ => cell(s.get("payment_instructions").and_then(|p| p.get("pay_uri"))),
    }
}

/// A session (and its payments, when present).
pub fn session(out: &mut dyn Write, s: &Value) -> io::Result<()> {
    let get = |k: &str| cell(s.get(k));
    let pi = s.get("payment_instructions");
    let pi_get = |k: &str| cell(pi.and_then(|p| p.get(k)));
    let memo = pi.and_then(|p| p.get("memo")).and_then(|m| m.get("value"));
    key_values(
        out,
        &[
            ("id", get("id")),
            ("status", get("status")),
            ("amount", get("amount")),
            ("received", get("amount_received")),
            ("asset", get("asset")),
            ("account", get("account")),
            ("memo (id)", cell(memo)),
            ("muxed destination", pi_get("muxed_destination")),
            ("pay uri", pay_uri(s)),
            ("processing tx", get("processing_tx_hash")),
            ("order id", get("order_id")),
            ("expires at", get("expires_at")),
            ("created at", get("created_at")),
        ],
    )?;
    if let Some(Value::Array(payments)) = s.get("payments")
        && !payments.is_empty()
    {
        writeln!(out)?;
        let rows: Vec<Vec<String>> = payments
            .iter()
            .map(|p| {
                ["tx_hash", "amount", "ledger", "created_at"]
                    .iter()
                    .map(|k| cell(p.get(*k)))
                    .collect()
            })
            .collect();
        table(out, &["TX HASH", "AMOUNT", "LEDGER", "CREATED"], &rows)?;
    }
    Ok(())
}

pub(crate) fn data(page: &Value) -> &[Value] {
    page.get("data")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub(crate) fn next_hint(out: &mut dyn Write, page: &Value) -> io::Result<()> {
    if let Some(next) = page.get("next_after").filter(|v| !v.is_null()) {
        writeln!(out, "(more: --after {})", cell(Some(next)))?;
    }
    Ok(())
}

pub fn session_list(out: &mut dyn Write, page: &Value) -> io::Result<()> {
    let rows: Vec<Vec<String>> = data(page)
        .iter()
        .map(|s| {
            let asset = cell(s.get("asset"));
            let code = asset.split(':').next().unwrap_or_default().to_owned();
            vec![
                cell(s.get("id")),
                cell(s.get("status")),
                cell(s.get("amount")),
                cell(s.get("amount_received")),
                code,
                cell(s.get("order_id")),
                cell(s.get("expires_at")),
            ]
        })
        .collect();
    table(
        out,
        &[
            "ID", "STATUS", "AMOUNT", "RECEIVED", "ASSET", "ORDER", "EXPIRES",
        ],
        &rows,
    )?;
    next_hint(out, page)
}

/// `/v1/status`: the accounts in summary (counts by state, then only those not following, as
/// the daemon caps them; `orbitpay accounts list` pages through all of them).
pub fn status(out: &mut dyn Write, s: &Value) -> io::Result<()> {
    let outbox = s.get("outbox");
    let accounts = s.get("accounts");
    let field = |k: &str| accounts.and_then(|a| a.get(k));
    key_values(
        out,
        &[
            ("version", cell(s.get("version"))),
            (
                "accounts led here",
                format!("{}/{}", cell(field("leading")), cell(field("total"))),
            ),
            ("max lag (s)", cell(field("max_lag_seconds"))),
            (
                "outbox undelivered",
                cell(outbox.and_then(|o| o.get("undelivered"))),
            ),
            (
                "outbox oldest (s)",
                cell(outbox.and_then(|o| o.get("oldest_age_seconds"))),
            ),
        ],
    )?;
    writeln!(out)?;
    let counts: Vec<Vec<String>> = s
        .get("sessions")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| vec![k.clone(), cell(Some(v))])
                .collect()
        })
        .unwrap_or_default();
    table(out, &["STATUS", "SESSIONS"], &counts)?;
    writeln!(out)?;
    let states: Vec<Vec<String>> = field("by_state")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, n)| n.as_u64() != Some(0))
                .map(|(k, v)| vec![k.clone(), cell(Some(v))])
                .collect()
        })
        .unwrap_or_default();
    table(out, &["STATE", "ACCOUNTS"], &states)?;
    let not_following: Vec<Vec<String>> = field("not_following")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|acc| {
                    let flags = [("gap", "GAP"), ("reset", "RESET")]
                        .iter()
                        .filter(|(k, _)| acc.get(*k).and_then(Value::as_bool) == Some(true))
                        .map(|(_, label)| *label)
                        .collect::<Vec<_>>()
                        .join(",");
                    vec![
                        cell(acc.get("account")),
                        cell(acc.get("state")),
                        cell(acc.get("cursor")),
                        cell(acc.get("lag_seconds")),
                        if flags.is_empty() {
                            "-".to_owned()
                        } else {
                            flags
                        },
                        cell(acc.get("reason")),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    if !not_following.is_empty() {
        writeln!(out)?;
        table(
            out,
            &[
                "NOT FOLLOWING",
                "STATE",
                "CURSOR",
                "LAG (s)",
                "FLAGS",
                "REASON",
            ],
            &not_following,
        )?;
    }
    let omitted = field("not_following_omitted")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if omitted > 0 {
        writeln!(out, "+{omitted} more not following: orbitpay accounts list")?;
    }
    jobs(out, s.get("jobs").and_then(Value::as_array))
}

/// The periodic jobs' last runs: one row each, then each run's notes and error below.
fn jobs(out: &mut dyn Write, runs: Option<&Vec<Value>>) -> io::Result<()> {
    let Some(runs) = runs.filter(|r| !r.is_empty()) else {
        return Ok(());
    };
    writeln!(out)?;
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let counts = r
                .get("counts")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter(|(_, v)| v.as_u64() != Some(0))
                        .map(|(k, v)| format!("{k}={}", cell(Some(v))))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "-".to_owned());
            vec![
                cell(r.get("job")),
                cell(r.get("started_at")),
                cell(r.get("duration_seconds")),
                cell(r.get("outcome")),
                counts,
            ]
        })
        .collect();
    table(
        out,
        &["JOB", "LAST RUN", "DURATION (s)", "OUTCOME", "COUNTS"],
        &rows,
    )?;
    for r in runs {
        let job = cell(r.get("job"));
        for note in r
            .get("notes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            writeln!(out, "{job}: {}", note.as_str().unwrap_or_default())?;
        }
        if let Some(e) = r.get("error").and_then(Value::as_str) {
            writeln!(out, "{job}: error: {e}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lists_each_jobs_last_run_with_its_notes() {
        let s = serde_json::json!({
            "version": "0.1.0", "outbox": {"undelivered": 0, "oldest_age_seconds": 0.0},
            "sessions": {},
            "accounts": {"total": 0, "leading": 0, "by_state": {}, "max_lag_seconds": null,
                         "not_following": [], "not_following_omitted": 0},
            "jobs": [
                {"job": "expiry", "started_at": "2026-01-01T00:00:00Z", "duration_seconds": 0.5,
                 "outcome": "ok", "counts": {"expired": 0, "waiting": 3},
                 "notes": ["GABC: 3 sessions past expiry wait: ingestion is behind"], "error": null},
                {"job": "recovery", "started_at": "2026-01-01T00:00:00Z", "duration_seconds": 1.0,
                 "outcome": "failed", "counts": {}, "notes": [], "error": "database down"}
            ]
        });
        let mut out = Vec::new();
        status(&mut out, &s).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("JOB"), "{text}");
        assert!(text.contains("waiting=3"), "{text}");
        assert!(!text.contains("expired=0"), "{text}");
        assert!(
            text.contains("expiry: GABC: 3 sessions past expiry wait"),
            "{text}"
        );
        assert!(text.contains("recovery: error: database down"), "{text}");
    }

    #[test]
    fn status_counts_the_accounts_by_state_and_lists_only_those_not_following() {
        let s = serde_json::json!({
            "version": "0.1.0", "outbox": {"undelivered": 0, "oldest_age_seconds": 0.0},
            "sessions": {}, "jobs": [],
            "accounts": {
                "total": 1000, "leading": 1000, "max_lag_seconds": 3.0,
                "by_state": {"streaming": 977, "halted": 23, "standby": 0},
                "not_following": [{"account": "GHALTED", "state": "halted", "cursor": 7,
                                   "lag_seconds": 3.0, "gap": false, "reset": false,
                                   "reason": "the record sink failed"}],
                "not_following_omitted": 22,
            },
        });
        let mut out = Vec::new();
        status(&mut out, &s).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("1000/1000"), "{text}");
        assert!(text.contains("streaming  977"), "{text}");
        assert!(!text.contains("standby"), "{text}");
        assert!(text.contains("GHALTED"), "{text}");
        assert!(text.contains("the record sink failed"), "{text}");
        assert!(
            text.contains("+22 more not following: orbitpay accounts list"),
            "{text}"
        );
    }

    #[test]
    fn a_session_that_cannot_take_a_payment_shows_why_instead_of_a_uri() {
        let render = |s: Value| {
            let mut out = Vec::new();
            session(&mut out, &s).unwrap();
            String::from_utf8(out).unwrap()
        };
        let paid = render(serde_json::json!({
            "status": "paid", "payable": false, "payment_instructions": null,
        }));
        assert!(paid.contains("not payable (paid)"), "{paid}");
        assert!(!paid.contains("web+stellar"), "{paid}");
        let pending = render(serde_json::json!({
            "status": "pending", "payable": true,
            "payment_instructions": {"pay_uri": "web+stellar:pay?amount=1.0000000"},
        }));
        assert!(
            pending.contains("web+stellar:pay?amount=1.0000000"),
            "{pending}"
        );
    }

    #[test]
    fn tables_align_columns() {
        let mut out = Vec::new();
        table(
            &mut out,
            &["A", "BB"],
            &[vec!["xxx".into(), "y".into()], vec!["z".into(), "-".into()]],
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "A    BB\nxxx  y\nz    -\n");
    }
}
