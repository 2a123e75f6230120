//! `/ui/`: the overview. Each figure links to the list behind it.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use orbitpay_store::{outbox, refund_lists, today, unmatched, unreadable};

use crate::error::conn;
use crate::format;
use crate::{PageError, UiState};

struct AccountView {
    account: String,
    short: String,
    state: String,
    state_label: String,
    lag: String,
    detail: String,
}

struct StatusCount {
    status: &'static str,
    count: i64,
}

struct Credited {
    stored: String,
    asset: String,
    amount: String,
}

/// Refunds awaiting a signature in one asset.
struct AwaitingView {
    stored: String,
    asset: String,
    count: i64,
    amount: String,
}

struct JobView {
    job: String,
    started_at: String,
    took: String,
    outcome: String,
    notes: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    title: &'static str,
    now: String,
    accounts: Vec<AccountView>,
    /// "12 following, 1 halted", when the accounts are too many to list.
    account_counts: Vec<(String, usize)>,
    accounts_total: usize,
    accounts_listed_all: bool,
    accounts_omitted: usize,
    sessions_today: Vec<StatusCount>,
    credited_today: Vec<Credited>,
    undelivered: i64,
    oldest: String,
    dead: i64,
    unmatched: i64,
    unreadable: i64,
    awaiting: Vec<AwaitingView>,
    jobs: Vec<JobView>,
}

/// Accounts listed one by one: all of them up to this many, else only those needing attention.
const ACCOUNTS_LISTED: usize = 20;

fn state_label(state: &str) -> String {
    match state {
        "streaming" => "following".to_owned(),
        "catching_up" => "catching up".to_owned(),
        "backing_off" => "retrying".to_owned(),
        s => s.to_owned(),
    }
}

pub async fn page(State(state): State<Arc<UiState>>) -> Result<Response, PageError> {
    let mut c = conn(&state).await?;
    let counts = today::session_counts(&mut c).await?;
    let credited = today::credited(&mut c).await?;
    let depth = outbox::depth(&mut c).await?;
    let unmatched = unmatched::count_unresolved(&mut c).await?;
    let unreadable = unreadable::count_unresolved(&mut c).await?;
    let awaiting = refund_lists::awaiting_totals(&mut c).await?;
    drop(c);
    let summary = state.board.accounts(ACCOUNTS_LISTED);
    let accounts_listed_all = summary.shown.len() == summary.total;
    let account_counts = summary
        .by_state
        .iter()
        .map(|(s, n)| (state_label(s), *n))
        .collect();
    let accounts = summary
        .shown
        .into_iter()
        .map(|a| {
            let detail = match a.state.as_str() {
                "catching_up" => format!(
                    "{} done, about {} left",
                    a.catch_up_percent
                        .map_or("?".to_owned(), |p| format!("{p:.0}%")),
                    format::age(a.eta_seconds)
                ),
                _ => a.reason.clone().unwrap_or_default(),
            };
            AccountView {
                short: format::short(&a.account),
                state_label: state_label(&a.state),
                lag: format::age(a.lag_seconds),
                account: a.account,
                state: a.state,
                detail,
            }
        })
        .collect();
    let view = Overview {
        title: "Overview",
        now: super::now(),
        accounts,
        account_counts,
        accounts_total: summary.total,
        accounts_listed_all,
        accounts_omitted: summary.omitted,
        sessions_today: counts
            .into_iter()
            .map(|(s, count)| StatusCount {
                status: s.as_str(),
                count,
            })
            .collect(),
        credited_today: credited
            .into_iter()
            .map(|(stored, s)| Credited {
                asset: format::asset(&stored),
                stored,
                amount: format::stroops(s),
            })
            .collect(),
        undelivered: depth.undelivered,
        oldest: format::age((depth.undelivered > 0).then_some(depth.oldest_age_seconds)),
        dead: depth.dead,
        unmatched,
        unreadable,
        awaiting: awaiting
            .into_iter()
            .map(|a| AwaitingView {
                asset: format::asset(&a.asset),
                stored: a.asset,
                count: a.count,
                amount: format::stroops(a.stroops),
            })
            .collect(),
        jobs: state
            .board
            .jobs()
            .into_iter()
            .map(|j| JobView {
                job: j.job,
                started_at: format::time(j.started_at),
                took: format!("{:.2} s", j.duration_seconds),
                outcome: j.outcome,
                notes: j
                    .error
                    .into_iter()
                    .chain(j.notes)
                    .collect::<Vec<_>>()
                    .join("; "),
            })
            .collect(),
    };
    super::html(&view)
}
