//! `orbitpay sessions ...`: create, list, show (with the timeline), cancel, report-tx.

use std::io::{self, Write};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::{Call, Failure, query, render, segment, timeline};

#[derive(Debug, Clone, Subcommand)]
pub enum SessionsCommand {
    /// Sessions, newest first.
    List(ListArgs),
    /// A session, its payments, and its timeline: each event with the ledger and transaction
    /// behind it and each webhook delivery's last attempt.
    Show { id: String },
    /// Create a session.
    Create(CreateArgs),
    /// Cancel a pending session.
    Cancel { id: String },
    /// Report the transaction that pays a session.
    ReportTx {
        id: String,
        /// The transaction hash (64 hex characters).
        hash: String,
        /// Default: derived from the session and the hash, so a retry is idempotent.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// Decimal amount, at most 7 decimals (e.g. 12.5).
    #[arg(long)]
    pub amount: String,
    /// `native` or `CODE:ISSUER`.
    #[arg(long)]
    pub asset: String,
    /// The receiving account (default: the first watched account).
    #[arg(long)]
    pub account: Option<String>,
    /// Lifetime, e.g. `15m` (default: the daemon's).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub expires_in: Option<Duration>,
    #[arg(long)]
    pub order_id: Option<String>,
    /// A JSON object.
    #[arg(long)]
    pub metadata: Option<String>,
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// Generated (and printed) when not given; reuse it to retry safely.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// pending, processing, paid, expired or cancelled.
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub order_id: Option<String>,
    #[arg(long)]
    pub limit: Option<u32>,
    /// The last id of the previous page.
    #[arg(long)]
    pub after: Option<String>,
}

impl SessionsCommand {
    pub(crate) fn call(&self, err: &mut dyn Write) -> Result<Call, Failure> {
        Ok(match self {
            SessionsCommand::List(args) => {
                let q = query(&[
                    ("status", args.status.clone()),
                    ("order_id", args.order_id.clone()),
                    ("limit", args.limit.map(|l| l.to_string())),
                    ("after", args.after.clone()),
                ]);
                Call::get(format!("/v1/sessions{q}"), render::session_list)
            }
            SessionsCommand::Show { id } => Call::get(
                format!("/v1/sessions/{}/timeline", segment(id)),
                timeline::session_timeline,
            ),
            SessionsCommand::Create(args) => create(args, err)?,
            SessionsCommand::Cancel { id } => Call::post(
                format!("/v1/sessions/{}/cancel", segment(id)),
                json!({}),
                render::session,
            ),
            SessionsCommand::ReportTx {
                id,
                hash,
                idempotency_key,
            } => {
                let key = idempotency_key
                    .clone()
                    .unwrap_or_else(|| format!("report-tx:{id}:{}", hash.to_lowercase()));
                Call::post(
                    format!("/v1/sessions/{}/payments", segment(id)),
                    json!({ "tx_hash": hash }),
                    report_view,
                )
                .header("Idempotency-Key", key)
            }
        })
    }
}

fn create(args: &CreateArgs, err: &mut dyn Write) -> Result<Call, Failure> {
    let key = match &args.idempotency_key {
        Some(k) => k.clone(),
        None => {
            let k = uuid::Uuid::new_v4().to_string();
            let _ = writeln!(err, "Idempotency-Key: {k}");
            k
        }
    };
    let mut body = json!({ "amount": args.amount, "asset": args.asset });
    if let Some(a) = &args.account {
        body["account"] = json!(a);
    }
    if let Some(d) = args.expires_in {
        body["expires_in"] = json!(d.as_secs());
    }
    if let Some(o) = &args.order_id {
        body["order_id"] = json!(o);
    }
    if let Some(m) = &args.metadata {
        body["metadata"] = serde_json::from_str(m)
            .map_err(|e| Failure::Usage(format!("--metadata is not JSON: {e}")))?;
    }
    if let Some(u) = &args.webhook_url {
        body["webhook_url"] = json!(u);
    }
    Ok(Call::post("/v1/sessions".to_owned(), body, render::session).header("Idempotency-Key", key))
}

fn report_view(out: &mut dyn Write, v: &Value) -> io::Result<()> {
    writeln!(out, "outcome: {}", render::cell(v.get("outcome")))?;
    render::session(out, v)
}
