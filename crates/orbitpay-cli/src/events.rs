//! `orbitpay events ...`: the outbox event feed, one event, and redelivery.

use std::io::{self, Write};

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::render::{cell, data, key_values, next_hint, table};
use crate::{Call, Lists, query, segment, webhooks};

#[derive(Debug, Clone, Subcommand)]
pub enum EventsCommand {
    /// Events in commit order (the order webhooks are sent in).
    List(FeedArgs),
    /// One event by its id (the webhook-id): its payload and each delivery's last attempt.
    Show { id: String },
    /// Send an event's webhook again (same webhook-id), delivered or dead alike.
    Redeliver { id: String },
}

#[derive(Debug, Clone, Args)]
pub struct FeedArgs {
    /// The `next_after` of the previous page.
    #[arg(long)]
    pub after: Option<i64>,
    #[arg(long)]
    pub limit: Option<u32>,
}

impl FeedArgs {
    pub(crate) fn query(&self) -> String {
        query(&[
            ("after", self.after.map(|a| a.to_string())),
            ("limit", self.limit.map(|l| l.to_string())),
        ])
    }
}

impl Lists<FeedArgs> for EventsCommand {
    fn list(args: FeedArgs) -> Self {
        EventsCommand::List(args)
    }
}

impl EventsCommand {
    pub(crate) fn call(&self) -> Call {
        match self {
            EventsCommand::List(args) => {
                Call::get(format!("/v1/events{}", args.query()), event_list)
            }
            EventsCommand::Show { id } => Call::get(format!("/v1/events/{}", segment(id)), event),
            EventsCommand::Redeliver { id } => Call::post(
                format!("/v1/events/{}/redeliver", segment(id)),
                json!({}),
                webhooks::delivery_list,
            ),
        }
    }
}

/// The feed: `ID` is the position (`--after`), `EVENT ID` what `events show` and `redeliver` take.
pub fn event_list(out: &mut dyn Write, page: &Value) -> io::Result<()> {
    let rows: Vec<Vec<String>> = data(page)
        .iter()
        .map(|e| {
            ["id", "event_id", "type", "session_id", "created_at"]
                .iter()
                .map(|k| cell(e.get(*k)))
                .collect()
        })
        .collect();
    table(
        out,
        &["ID", "EVENT ID", "TYPE", "SESSION", "CREATED"],
        &rows,
    )?;
    next_hint(out, page)
}

pub fn event(out: &mut dyn Write, e: &Value) -> io::Result<()> {
    key_values(
        out,
        &[
            ("id", cell(e.get("id"))),
            ("event id", cell(e.get("event_id"))),
            ("type", cell(e.get("type"))),
            ("session", cell(e.get("session_id"))),
            ("created at", cell(e.get("created_at"))),
        ],
    )?;
    writeln!(out)?;
    let payload = e.get("payload").unwrap_or(&Value::Null);
    let pretty = serde_json::to_string_pretty(payload).map_err(io::Error::other)?;
    writeln!(out, "{pretty}")?;
    writeln!(out)?;
    webhooks::status_table(out, e.get("deliveries"))
}
