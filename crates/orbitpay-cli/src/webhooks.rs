//! `orbitpay webhooks ...` and `orbitpay events redeliver`: the delivery queue.

use std::io::{self, Write};

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::Call;
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

impl WebhooksCommand {
    pub(crate) fn call(&self) -> Call {
        match self {
            WebhooksCommand::List(a) => {
                let q = crate::query(&[
                    ("status", a.status.clone()),
                    ("after", a.after.map(|v| v.to_string())),
                    ("limit", a.limit.map(|v| v.to_string())),
                ]);
                Call::get(format!("/v1/webhooks/deliveries{q}"), delivery_list)
            }
            WebhooksCommand::Show { id } => {
                Call::get(format!("/v1/webhooks/deliveries/{id}"), delivery)
            }
            WebhooksCommand::Retry { id } => Call::post(
                format!("/v1/webhooks/deliveries/{id}/retry"),
                json!({}),
                delivery,
            ),
            WebhooksCommand::Enable { url } => Call::post(
                "/v1/webhooks/endpoint/enable".to_owned(),
                match url {
                    Some(u) => json!({ "url": u }),
                    None => json!({}),
                },
                enabled,
            ),
        }
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

/// Deliveries where they stand (an event's): state and last attempt.
pub fn status_table(out: &mut dyn Write, deliveries: Option<&Value>) -> io::Result<()> {
    let rows: Vec<Vec<String>> = deliveries
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|d| {
                    let last = d.get("last_attempt");
                    let at = |k: &str| cell(last.and_then(|a| a.get(k)));
                    vec![
                        cell(d.get("id")),
                        cell(d.get("status")),
                        cell(d.get("attempts")),
                        at("status"),
                        at("started_at"),
                        at("error"),
                        cell(d.get("url")),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    table(
        out,
        &[
            "DELIVERY", "STATUS", "ATTEMPTS", "LAST", "AT", "ERROR", "URL",
        ],
        &rows,
    )
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
