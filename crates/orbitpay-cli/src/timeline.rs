//! `orbitpay sessions show`: the session, then its timeline, one line per event and one more per
//! extra webhook delivery.

use std::io::{self, Write};

use serde_json::Value;

use crate::render::{self, cell, table};

const HEADERS: [&str; 8] = [
    "CREATED", "EVENT", "STATUS", "RECEIVED", "AMOUNT", "LEDGER", "TX HASH", "WEBHOOK",
];

pub(crate) fn session_timeline(out: &mut dyn Write, v: &Value) -> io::Result<()> {
    render::session(out, v)?;
    let events = v
        .get("timeline")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    writeln!(out)?;
    let mut rows = Vec::new();
    for e in events {
        let deliveries = e
            .get("deliveries")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut first: Vec<String> = [
            "created_at",
            "type",
            "status",
            "amount_received",
            "amount",
            "ledger",
            "tx_hash",
        ]
        .iter()
        .map(|k| cell(e.get(*k)))
        .collect();
        first.push(deliveries.first().map_or_else(|| "-".to_owned(), webhook));
        rows.push(first);
        for d in deliveries.iter().skip(1) {
            let mut more = vec![String::new(); HEADERS.len() - 1];
            more.push(webhook(d));
            rows.push(more);
        }
    }
    table(out, &HEADERS, &rows)
}

/// A delivery where it stands: `#7 delivered 200 at T`, `#8 pending (no attempt yet)`, or the
/// last attempt's error when no response came.
fn webhook(d: &Value) -> String {
    let head = format!("#{} {}", cell(d.get("id")), cell(d.get("status")));
    match d.get("last_attempt").filter(|a| !a.is_null()) {
        None => format!("{head} (no attempt yet)"),
        Some(a) => {
            let outcome = match a.get("status").filter(|s| !s.is_null()) {
                Some(s) => cell(Some(s)),
                None => cell(a.get("error")),
            };
            format!(
                "{head} {outcome} at {} (attempt {})",
                cell(a.get("started_at")),
                cell(a.get("attempt"))
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_extra_delivery_gets_a_line_of_its_own() {
        let v = serde_json::json!({
            "id": "S", "status": "paid",
            "timeline": [{
                "created_at": "T1", "type": "session.paid", "status": "paid",
                "amount_received": "12.5000000", "amount": "7.5000000", "ledger": 9,
                "tx_hash": "ab", "deliveries": [
                    {"id": 1, "status": "delivered", "last_attempt":
                        {"attempt": 2, "status": 200, "error": null, "started_at": "T2"}},
                    {"id": 2, "status": "pending", "last_attempt": null},
                    {"id": 3, "status": "pending", "last_attempt":
                        {"attempt": 1, "status": null, "error": "timed out", "started_at": "T3"}}
                ]
            }]
        });
        let mut out = Vec::new();
        session_timeline(&mut out, &v).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("CREATED"))
            .collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[1].starts_with("T1") && lines[1].ends_with("#1 delivered 200 at T2 (attempt 2)"),
            "{text}"
        );
        assert_eq!(lines[2].trim(), "#2 pending (no attempt yet)");
        assert_eq!(lines[3].trim(), "#3 pending timed out at T3 (attempt 1)");
    }
}
