//! `orbitpay payments ...`: unmatched payments and unreadable records.

use std::io::{self, Write};

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::events::FeedArgs;
use crate::render::{cell, data, key_values, next_hint, table};
use crate::{Call, ListByDefault, Lists, query, segment};

#[derive(Debug, Clone, Subcommand)]
pub enum PaymentsCommand {
    /// Payments that credited no session (a bare `unmatched` lists).
    Unmatched(ListByDefault<UnmatchedCommand, FeedArgs>),
    /// Ledger records stored because they could not be read, awaiting reconciliation (a bare
    /// `unreadable` lists).
    Unreadable(ListByDefault<UnreadableCommand, UnreadableArgs>),
}

#[derive(Debug, Clone, Subcommand)]
pub enum UnmatchedCommand {
    /// Unmatched payments, oldest first.
    List(FeedArgs),
    /// One, with the operation as the source sent it.
    Show { id: i64 },
}

#[derive(Debug, Clone, Subcommand)]
pub enum UnreadableCommand {
    /// Unresolved records, oldest first.
    List(UnreadableArgs),
    /// One record, resolved or not.
    Show {
        /// The watched account (G).
        account: String,
        /// Its paging token (the operation id).
        paging_token: i64,
    },
}

#[derive(Debug, Clone, Args)]
pub struct UnreadableArgs {
    /// Only this watched account's records.
    #[arg(long)]
    pub account: Option<String>,
    #[arg(long)]
    pub limit: Option<u32>,
}

impl Lists<FeedArgs> for UnmatchedCommand {
    fn list(args: FeedArgs) -> Self {
        UnmatchedCommand::List(args)
    }
}

impl Lists<UnreadableArgs> for UnreadableCommand {
    fn list(args: UnreadableArgs) -> Self {
        UnreadableCommand::List(args)
    }
}

impl PaymentsCommand {
    pub(crate) fn call(&self) -> Call {
        match self {
            PaymentsCommand::Unmatched(c) => match c.command() {
                UnmatchedCommand::List(args) => Call::get(
                    format!("/v1/payments/unmatched{}", args.query()),
                    unmatched_list,
                ),
                UnmatchedCommand::Show { id } => {
                    Call::get(format!("/v1/payments/unmatched/{id}"), unmatched)
                }
            },
            PaymentsCommand::Unreadable(c) => match c.command() {
                UnreadableCommand::List(args) => {
                    let q = query(&[
                        ("account", args.account.clone()),
                        ("limit", args.limit.map(|l| l.to_string())),
                    ]);
                    Call::get(format!("/v1/payments/unreadable{q}"), unreadable_list)
                }
                UnreadableCommand::Show {
                    account,
                    paging_token,
                } => Call::get(
                    format!(
                        "/v1/payments/unreadable/{}/{paging_token}",
                        segment(&account)
                    ),
                    unreadable,
                ),
            },
        }
    }
}

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

pub fn unmatched(out: &mut dyn Write, u: &Value) -> io::Result<()> {
    let get = |k: &str| cell(u.get(k));
    key_values(
        out,
        &[
            ("id", get("id")),
            ("reason", get("reason")),
            ("amount", get("amount")),
            ("asset", get("asset")),
            ("from", get("from")),
            ("account", get("account")),
            ("tx hash", get("tx_hash")),
            ("op id", get("op_id")),
            ("ledger", get("ledger")),
            ("memo type", get("memo_type")),
            ("memo", get("memo_value")),
            ("muxed id", get("muxed_id")),
            ("session", get("session_id")),
            ("detail", get("detail")),
            ("created at", get("created_at")),
        ],
    )?;
    if let Some(raw) = u.get("raw_operation").filter(|r| !r.is_null()) {
        writeln!(out)?;
        let pretty = serde_json::to_string_pretty(raw).map_err(io::Error::other)?;
        writeln!(out, "{pretty}")?;
    }
    Ok(())
}

pub fn unreadable(out: &mut dyn Write, r: &Value) -> io::Result<()> {
    let get = |k: &str| cell(r.get(k));
    key_values(
        out,
        &[
            ("account", get("account")),
            ("paging token", get("paging_token")),
            ("ledger", get("ledger")),
            ("attempts", get("attempts")),
            ("error", get("parse_error")),
            ("first seen", get("first_seen")),
            ("last seen", get("last_seen")),
            ("resolved at", get("resolved_at")),
            ("truncated", get("raw_truncated")),
            ("raw (base64)", get("raw")),
        ],
    )
}
