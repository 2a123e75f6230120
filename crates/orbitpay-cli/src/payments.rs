//! `orbitpay payments ...`: unmatched payments and unreadable records.

use std::io::{self, Write};

use serde_json::Value;

use crate::render::{cell, data, next_hint, table};

pub fn unmatched_list(out: &mut dyn Write, page: &Value) -> io::Result<()> {
    let rows: Vec<Vec<String>> = data(page)
        .iter()
        .map(|u| {
            ["id", "tx_hash", "amount", "asset", "reason", "created_at"]
                .iter()
                .map(|k| cell(u.get(*k)))
                .collect()
        })
        .collect();
    table(
        out,
        &["ID", "TX HASH", "AMOUNT", "ASSET", "REASON", "CREATED"],
        &rows,
    )?;
    next_hint(out, page)
}

pub fn unreadable_list(out: &mut dyn Write, page: &Value) -> io::Result<()> {
    let rows: Vec<Vec<String>> = data(page)
        .iter()
        .map(|u| {
            [
                "account",
                "paging_token",
                "attempts",
                "parse_error",
                "first_seen",
            ]
            .iter()
            .map(|k| cell(u.get(*k)))
            .collect()
        })
        .collect();
    table(
        out,
        &["ACCOUNT", "PAGING TOKEN", "ATTEMPTS", "ERROR", "FIRST SEEN"],
        &rows,
    )
}
