//! `orbitpay webhooks ...` and `orbitpay events redeliver`: the delivery queue.

use std::io::{self, Write};

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::render::{cell, key_values, table};

#[derive(Debug, Clone, Subcommand)]
pub enum WebhooksCommand {
    /// Deliveries, oldest first.
    List(DeliveryListArgs),
    /// One delivery with every attempt (status, latency, error, response snippet).
    Show { id: i64 },
    /// Put a dead delivery back in the queue, with a fresh retry budget.
    Retry { id: i64 },
    /// Re-enable an endpoint disabled by a 410 Gone (default: webhooks.url).
    Enable {
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DeliveryListArgs {
    /// pending, delivering, delivered or dead.
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub after: Option<i64>,
    #[arg(long)]
    pub limit: Option<u32>,
}

/// The request a command makes: method, path and body.
pub(crate) fn request(command: &WebhooksCommand) -> (&'static str, String, Option<Value>) {
    match command {
        WebhooksCommand::List(a) => {
            let q = crate::query(&[
                ("status", a.status.clone()),
                ("after", a.after.map(|v| v.to_string())),
                ("limit", a.limit.map(|v| v.to_string())),
            ]);
            ("GET", format!("/v1/webhooks/deliveries{q}"), None)
        }
        WebhooksCommand::Show { id } => ("GET", format!("/v1/webhooks/deliveries/{id}"), None),
        WebhooksCommand::Retry { id } => (
            "POST",
            format!("/v1/webhooks/deliveries/{id}/retry"),
            Some(json!({})),
        ),
        WebhooksCommand::Enable { url } => (
            "POST",
            "/v1/webhooks/endpoint/enable".to_owned(),
            Some(match url {
                Some(u) => json!({ "url": u }),
                None => json!({}),
            }),
        ),
    }
}

const COLUMNS: [&str; 6] = ["id", "event_id", "status", "attempts", "last_status", "url"];

fn row(d: &Value) -> Vec<String> {
    COLUMNS.iter().map(|k| cell(d.get(*k))).collect()
}

pub fn delivery_list(out: &mut dyn Write, page: &Value) -> io::Result<()> {
    let rows: Vec<Vec<String>> = page
        .get("data")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(row).collect())
        .unwrap_or_default();
    table(
        out,
        &["ID", "EVENT", "STATUS", "ATTEMPTS", "LAST", "URL"],
        &rows,
    )?;
    if let Some(n) = page.get("next_after").and_then(Value::as_i64) {
        writeln!(out, "more: --after {n}")?;
    }
    Ok(())
}

pub fn delivery(out: &mut dyn Write, d: &Value) -> io::Result<()> {
    let get = |k: &str| cell(d.get(k));
    key_values(
        out,
        &[
            ("id", get("id")),
            ("event", get("event_id")),
            ("url", get("url")),
            ("status", get("status")),
            ("attempts", get("attempts")),
            ("next attempt", get("next_attempt_at")),
            ("last status", get("last_status")),
            ("last error", get("last_error")),
            ("delivered", get("delivered_at")),
            ("retried", get("retried_at")),
        ],
    )?;
    if let Some(attempts) = d.get("attempts_made").and_then(Value::as_array) {
        writeln!(out)?;
        let rows: Vec<Vec<String>> = attempts
            .iter()
            .map(|a| {
                ["attempt", "started_at", "latency_ms", "status", "error"]
                    .iter()
                    .map(|k| cell(a.get(*k)))
                    .collect()
            })
            .collect();
        table(out, &["#", "STARTED", "MS", "STATUS", "ERROR"], &rows)?;
    }
    Ok(())
}

pub fn enabled(out: &mut dyn Write, v: &Value) -> io::Result<()> {
    let was = v.get("was_disabled").and_then(Value::as_bool) == Some(true);
    writeln!(
        out,
        "{}: {}",
        cell(v.get("url")),
        if was {
            "re-enabled"
        } else {
            "was not disabled"
        }
    )
}
