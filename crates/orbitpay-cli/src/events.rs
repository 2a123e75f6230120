//! `orbitpay events ...`: the outbox event feed.

use std::io::{self, Write};

use serde_json::Value;

use crate::render::{cell, data, next_hint, table};

pub fn event_list(out: &mut dyn Write, page: &Value) -> io::Result<()> {
    let rows: Vec<Vec<String>> = data(page)
        .iter()
        .map(|e| {
            ["id", "type", "session_id", "created_at"]
                .iter()
                .map(|k| cell(e.get(*k)))
                .collect()
        })
        .collect();
    table(out, &["ID", "TYPE", "SESSION", "CREATED"], &rows)?;
    next_hint(out, page)
}
