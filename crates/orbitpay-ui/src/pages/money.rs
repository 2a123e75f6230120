//! `/ui/money`: money to look at. Unresolved unmatched payments (reason, who paid, how much,
//! what its refunds return, the raw operation; `?unmatched=all` shows the resolved ones too),
//! unreadable records, overpaid sessions. Every payer-controlled string (memo,
//! raw operation, asset code, raw bytes) reaches the page only through the template's
//! escaping; the memo and raw bytes are `core::text::escape`d first, so a NUL or an invalid
//! byte shows as `\x00` rather than vanishing.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use orbitpay_store::models::UnmatchedPaymentRow;
use orbitpay_store::session_search::{self, After};
use orbitpay_store::{payments, refunds, unmatched, unreadable};
use serde::Deserialize;

use super::{PAGE, cursor};
use crate::error::conn;
use crate::format;
use crate::{PageError, UiState};

/// How much of a raw record the page shows; the API has all of it.
const RAW_CHARS: usize = 8 * 1024;

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    /// Unmatched rows below this id.
    unmatched_before: Option<i64>,
    /// `all`: resolved unmatched payments too.
    #[serde(default)]
    unmatched: String,
    #[serde(default)]
    overpaid_after: String,
}

struct UnmatchedView {
    at: String,
    reason: &'static str,
    detail: Option<String>,
    amount: String,
    asset: String,
    asset_stored: String,
    from: String,
    from_short: String,
    memo_type: String,
    memo: String,
    tx_short: String,
    ledger: Option<i32>,
    session_id: Option<String>,
    /// What its refunds return: completed, then awaiting a signature (empty when none).
    refunded: String,
    raw: String,
}

struct UnreadableView {
    account: String,
    account_short: String,
    token: i64,
    error: String,
    attempts: i32,
    first_seen: String,
    raw: String,
}

struct OverpaidView {
    id: String,
    amount: String,
    asset: String,
    received: String,
    over: String,
    txs: Vec<String>,
}

#[derive(Template)]
#[template(path = "money.html")]
struct Money {
    title: &'static str,
    now: String,
    unmatched: Vec<UnmatchedView>,
    unmatched_next: Option<String>,
    /// Resolved ones shown too.
    all: bool,
    unreadable: Vec<UnreadableView>,
    overpaid: Vec<OverpaidView>,
    overpaid_next: Option<String>,
}

pub async fn page(
    State(state): State<Arc<UiState>>,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    let mut c = conn(&state).await?;
    let all = params.unmatched == "all";
    let rows = if all {
        unmatched::newest(&mut c, params.unmatched_before, PAGE).await?
    } else {
        unmatched::newest_unresolved(&mut c, params.unmatched_before, PAGE).await?
    };
    let ids: Vec<i64> = rows.iter().map(|u| u.id).collect();
    let refunded = unmatched::refunded(&mut c, &ids).await?;
    let unread = unreadable::list_unresolved(&mut c, None, PAGE).await?;
    let over =
        session_search::overpaid(&mut c, cursor::decode(&params.overpaid_after), PAGE).await?;
    let ids: Vec<_> = over.iter().map(|s| s.id).collect();
    let paid = payments::for_sessions(&mut c, &ids).await?;
    let mut overpaid = Vec::with_capacity(over.len());
    for s in &over {
        overpaid.push(OverpaidView {
            id: s.id.to_string(),
            amount: format::stroops(i128::from(s.amount.stroops())),
            asset: format::asset(&s.asset.to_string()),
            received: format::stroops(i128::from(s.amount_received.stroops())),
            over: format::stroops(
                i128::from(s.amount_received.stroops()) - i128::from(s.amount.stroops()),
            ),
            txs: paid
                .iter()
                .filter(|p| p.session_id == s.id)
                .map(|p| format!("{} · {}", p.tx_hash, format::stroops(i128::from(p.amount))))
                .collect(),
        });
    }
    drop(c);
    let unmatched_next = (rows.len() as i64 == PAGE).then(|| {
        let last = rows[rows.len() - 1].id.to_string();
        cursor::link(
            "/ui/money",
            &[
                ("unmatched", if all { "all" } else { "" }),
                ("unmatched_before", &last),
            ],
        ) + "#unmatched"
    });
    let overpaid_next = (over.len() as i64 == PAGE).then(|| {
        let last = &over[over.len() - 1];
        let after = cursor::encode(After {
            created_at: last.created_at,
            id: last.id,
        });
        cursor::link("/ui/money", &[("overpaid_after", &after)]) + "#overpaid"
    });
    let view = Money {
        title: "Money to look at",
        now: super::now(),
        unmatched: rows.iter().map(|u| unmatched_view(u, &refunded)).collect(),
        unmatched_next,
        all,
        unreadable: unread
            .into_iter()
            .map(|r| UnreadableView {
                account_short: format::short(&r.account),
                account: r.account,
                token: r.paging_token,
                error: r.parse_error,
                attempts: r.attempts,
                first_seen: format::time(r.first_seen),
                raw: cut(orbitpay_core::text::escape(&r.raw)),
            })
            .collect(),
        overpaid,
        overpaid_next,
    };
    super::html(&view)
}

fn unmatched_view(u: &UnmatchedPaymentRow, refunded: &[(i64, String, i128)]) -> UnmatchedView {
    let of = |status: &str| {
        refunded
            .iter()
            .filter(|(id, s, _)| *id == u.id && s == status)
            .map(|(_, _, n)| *n)
            .sum::<i128>()
    };
    let (done, awaiting) = (of(refunds::COMPLETED), of(refunds::AWAITING_SIGNATURE));
    let refunded = [(done, "refunded"), (awaiting, "awaiting signature")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{} {what}", format::stroops(n)))
        .collect::<Vec<_>>()
        .join(", ");
    let from = u.from_address.clone().unwrap_or_default();
    let asset_stored = u.asset.clone().unwrap_or_default();
    let memo = format::memo(
        u.memo_type.as_deref(),
        u.memo_value.as_deref(),
        u.memo_bytes.as_deref(),
    );
    UnmatchedView {
        at: format::time(u.created_at),
        reason: u.reason.as_str(),
        detail: u.detail.clone(),
        amount: u
            .amount
            .as_ref()
            .map_or("?".to_owned(), |a| format::stroops(a.0)),
        asset: if asset_stored.is_empty() {
            "?".to_owned()
        } else {
            format::asset(&asset_stored)
        },
        asset_stored,
        from_short: format::short(&from),
        from,
        memo_type: u.memo_type.clone().unwrap_or_else(|| "none".to_owned()),
        memo,
        tx_short: format::short(&u.tx_hash),
        ledger: u.ledger,
        session_id: u.session_id.map(|s| s.to_string()),
        refunded,
        raw: cut(u
            .raw_operation
            .as_ref()
            .and_then(|r| serde_json::to_string_pretty(r).ok())
            .unwrap_or_default()),
    }
}

fn cut(s: String) -> String {
    if s.chars().count() <= RAW_CHARS {
        return s;
    }
    let mut out: String = s.chars().take(RAW_CHARS).collect();
    out.push_str("\n… (cut; the API has it all)");
    out
}
