//! `orbitpay refunds ...`: prepare a refund (an unsigned transaction the merchant signs in
//! their own wallet), list and show them, prepare a stale one again, cancel one. `--qr` prints
//! the SEP-7 URI as a QR code a phone wallet can scan.

use std::io::{self, Write};

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::render::{cell, data, key_values, next_hint, table};
use crate::{Call, Failure, View, query, segment};

#[derive(Debug, Clone, Subcommand)]
pub enum RefundsCommand {
    /// Refunds, oldest first.
    List(ListArgs),
    /// A refund, with its envelope and SEP-7 URI.
    Show {
        id: String,
        /// Print the SEP-7 URI as a QR code too.
        #[arg(long)]
        qr: bool,
    },
    /// Prepare a refund of an unmatched payment or a session (its overpaid part by default).
    Create(CreateArgs),
    /// A fresh envelope for an awaiting refund whose envelope went stale.
    Prepare {
        id: String,
        #[arg(long)]
        qr: bool,
    },
    /// Cancel an awaiting refund.
    Cancel { id: String },
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// The unmatched payment's id (`orbitpay payments unmatched`).
    #[arg(long, conflicts_with = "session", required_unless_present = "session")]
    pub unmatched: Option<i64>,
    /// The session's id.
    #[arg(long)]
    pub session: Option<String>,
    /// Decimal amount (default: all of an unmatched payment, a session's overpaid part).
    #[arg(long)]
    pub amount: Option<String>,
    /// Another G or M address than the payer's (an exchange customer's deposit address).
    #[arg(long)]
    pub destination: Option<String>,
    /// Memo type replacing MEMO_RETURN: text, id, hash, return or none.
    #[arg(long, requires = "memo")]
    pub memo_type: Option<String>,
    /// The memo's value (an exchange customer's deposit memo).
    #[arg(long, requires = "memo_type")]
    pub memo: Option<String>,
    /// A claimable balance the payer claims later (for a payer without a trustline).
    #[arg(long)]
    pub claimable_balance: bool,
    /// Generated (and printed) when not given; reuse it to retry safely.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Print the SEP-7 URI as a QR code too.
    #[arg(long)]
    pub qr: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub limit: Option<u32>,
    /// The `next_after` of the previous page.
    #[arg(long)]
    pub after: Option<String>,
}

fn view(qr: bool) -> View {
    if qr { refund_with_qr } else { refund }
}

impl RefundsCommand {
    pub(crate) fn call(&self, err: &mut dyn Write) -> Result<Call, Failure> {
        Ok(match self {
            RefundsCommand::List(args) => Call::get(
                format!(
                    "/v1/refunds{}",
                    query(&[
                        ("limit", args.limit.map(|l| l.to_string())),
                        ("after", args.after.clone()),
                    ])
                ),
                refund_list,
            ),
            RefundsCommand::Show { id, qr } => {
                Call::get(format!("/v1/refunds/{}", segment(id)), view(*qr))
            }
            RefundsCommand::Create(args) => create(args, err),
            RefundsCommand::Prepare { id, qr } => Call::post(
                format!("/v1/refunds/{}/prepare", segment(id)),
                json!({}),
                view(*qr),
            ),
            RefundsCommand::Cancel { id } => Call::post(
                format!("/v1/refunds/{}/cancel", segment(id)),
                json!({}),
                refund,
            ),
        })
    }
}

fn create(args: &CreateArgs, err: &mut dyn Write) -> Call {
    let key = match &args.idempotency_key {
        Some(k) => k.clone(),
        None => {
            let k = uuid::Uuid::new_v4().to_string();
            let _ = writeln!(err, "Idempotency-Key: {k}");
            k
        }
    };
    let mut body = match (&args.unmatched, &args.session) {
        (Some(id), _) => json!({ "unmatched_id": id }),
        (None, Some(id)) => json!({ "session_id": id }),
        (None, None) => json!({}),
    };
    if let Some(a) = &args.amount {
        body["amount"] = json!(a);
    }
    if let Some(d) = &args.destination {
        body["destination"] = json!(d);
    }
    if let (Some(kind), Some(value)) = (&args.memo_type, &args.memo) {
        body["memo"] = json!({ "type": kind, "value": value });
    }
    if args.claimable_balance {
        body["method"] = json!("claimable_balance");
    }
    Call::post("/v1/refunds".to_owned(), body, view(args.qr)).header("Idempotency-Key", key)
}

pub fn refund_list(out: &mut dyn Write, page: &Value) -> io::Result<()> {
    let rows: Vec<Vec<String>> = data(page)
        .iter()
        .map(|r| {
            [
                "id",
                "status",
                "amount",
                "asset",
                "destination",
                "valid_until",
            ]
            .iter()
            .map(|k| cell(r.get(*k)))
            .collect()
        })
        .collect();
    table(
        out,
        &[
            "ID",
            "STATUS",
            "AMOUNT",
            "ASSET",
            "DESTINATION",
            "VALID UNTIL",
        ],
        &rows,
    )?;
    next_hint(out, page)
}

pub fn refund(out: &mut dyn Write, r: &Value) -> io::Result<()> {
    let memo = r.get("memo");
    let source = r
        .get("session_id")
        .filter(|v| !v.is_null())
        .map(|s| format!("session {}", cell(Some(s))))
        .unwrap_or_else(|| format!("unmatched payment {}", cell(r.get("unmatched_id"))));
    key_values(
        out,
        &[
            ("id", cell(r.get("id"))),
            ("status", cell(r.get("status"))),
            ("source", source),
            (
                "amount",
                format!("{} {}", cell(r.get("amount")), cell(r.get("asset"))),
            ),
            ("destination", cell(r.get("destination"))),
            (
                "memo",
                format!(
                    "{} {}",
                    cell(memo.and_then(|m| m.get("type"))),
                    cell(memo.and_then(|m| m.get("value")))
                ),
            ),
            ("method", cell(r.get("method"))),
            ("account", cell(r.get("account"))),
            ("sequence", cell(r.get("sequence"))),
            ("valid until", cell(r.get("valid_until"))),
            ("tx hash", cell(r.get("tx_hash"))),
            ("envelope", cell(r.get("envelope_xdr"))),
            ("sep-7 uri", cell(r.get("sep7_uri"))),
        ],
    )
}

/// The refund, then its SEP-7 URI as a QR code (two modules per character, so it stays
/// square in a terminal).
pub fn refund_with_qr(out: &mut dyn Write, r: &Value) -> io::Result<()> {
    refund(out, r)?;
    let Some(uri) = r.get("sep7_uri").and_then(Value::as_str) else {
        return writeln!(
            out,
            "(no SEP-7 URI: the refund is not awaiting a signature)"
        );
    };
    let code = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| io::Error::other(format!("QR code: {e}")))?;
    let image = code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .build();
    writeln!(out)?;
    writeln!(out, "{image}")
}
