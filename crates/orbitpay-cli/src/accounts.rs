//! `orbitpay accounts ...`: the watched accounts: add one, list them with how their ingestion
//! stands, remove one.

use std::io::{self, Write};

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::render::{cell, data, key_values, next_hint, table};
use crate::{Call, query, segment};

#[derive(Debug, Clone, Subcommand)]
pub enum AccountsCommand {
    /// Watch an account (again with the same start and label: no change).
    Add {
        /// The G address.
        address: String,
        /// `now` (default) or a paging token to read after.
        #[arg(long)]
        start_cursor: Option<String>,
        #[arg(long)]
        label: Option<String>,
    },
    /// The watched accounts, by address, with state, lag, cursor and leading instance.
    List(ListArgs),
    /// Stop watching an account (refused while it has open sessions).
    Remove {
        address: String,
        /// Expire its pending sessions first (processing ones still block).
        #[arg(long)]
        expire_open: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// The `next_after` of the previous page.
    #[arg(long)]
    pub after: Option<String>,
    #[arg(long)]
    pub limit: Option<u32>,
}

impl AccountsCommand {
    pub(crate) fn call(&self) -> Call {
        match self {
            AccountsCommand::Add {
                address,
                start_cursor,
                label,
            } => {
                let mut body = json!({ "address": address });
                if let Some(s) = start_cursor {
                    body["start_cursor"] = json!(s);
                }
                if let Some(l) = label {
                    body["label"] = json!(l);
                }
                Call::post("/v1/accounts".to_owned(), body, account)
            }
            AccountsCommand::List(args) => Call::get(
                format!(
                    "/v1/accounts{}",
                    query(&[
                        ("after", args.after.clone()),
                        ("limit", args.limit.map(|l| l.to_string())),
                    ])
                ),
                account_list,
            ),
            AccountsCommand::Remove {
                address,
                expire_open,
            } => Call::delete(
                format!(
                    "/v1/accounts/{}{}",
                    segment(address),
                    if *expire_open {
                        "?expire_open=true"
                    } else {
                        ""
                    }
                ),
                removed,
            ),
        }
    }
}

pub fn account_list(out: &mut dyn Write, page: &Value) -> io::Result<()> {
    let rows: Vec<Vec<String>> = data(page)
        .iter()
        .map(|a| {
            [
                "address",
                "label",
                "state",
                "lag_seconds",
                "cursor",
                "leading_instance",
            ]
            .iter()
            .map(|k| cell(a.get(*k)))
            .collect()
        })
        .collect();
    table(
        out,
        &["ADDRESS", "LABEL", "STATE", "LAG S", "CURSOR", "LEADER"],
        &rows,
    )?;
    next_hint(out, page)
}

pub fn account(out: &mut dyn Write, a: &Value) -> io::Result<()> {
    key_values(
        out,
        &[
            ("address", cell(a.get("address"))),
            ("label", cell(a.get("label"))),
            ("start cursor", cell(a.get("start_cursor"))),
            ("start token", cell(a.get("start_token"))),
            ("added by", cell(a.get("added_by"))),
            ("state", cell(a.get("state"))),
            ("cursor", cell(a.get("cursor"))),
            ("leader", cell(a.get("leading_instance"))),
            ("created at", cell(a.get("created_at"))),
        ],
    )
}

pub fn removed(out: &mut dyn Write, r: &Value) -> io::Result<()> {
    let expired = r
        .get("expired_sessions")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    writeln!(
        out,
        "removed {} ({expired} pending sessions expired)",
        cell(r.get("address"))
    )
}
