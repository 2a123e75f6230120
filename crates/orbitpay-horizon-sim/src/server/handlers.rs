//! The REST route handlers.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use orbitpay_core::{AccountId, toid};

use super::AppState;
use super::delivery::{HAL, pre_fault, problem_response, rest_response};
use super::request::{
    PageParams, base_url, page_params, param, parse_query, valid_hash, wants_stream,
};
use super::stream::stream_response;
use crate::fault::RouteKind;
use crate::model::{Ledger, PaymentRef, Scope};
use crate::render::{self, Problem, to_pretty};

/// A HAL page of operation records (account payments and transaction payments alike), and the
/// latest ledger for the response headers.
fn ops_page(
    base: &str,
    ledger: &Ledger,
    refs: &[PaymentRef],
    path: &str,
    q: &[(String, String)],
    p: &PageParams,
) -> (String, u32) {
    let records: Vec<_> = refs
        .iter()
        .map(|r| render::op_record(base, ledger, r, p.join_tx))
        .collect();
    let spec = render::PageSpec {
        base,
        path,
        params: q,
        cursor: &p.cursor,
        asc: p.asc,
        limit: p.limit,
    };
    (
        to_pretty(&render::page(&spec, first_last(refs), records)),
        ledger.latest,
    )
}

fn first_last(refs: &[PaymentRef]) -> Option<(String, String)> {
    Some((
        refs.first()?.toid.to_string(),
        refs.last()?.toid.to_string(),
    ))
}

pub(super) async fn root(State(st): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let fault = st.sim.begin_request(RouteKind::Root, &uri, &headers);
    if let Some(r) = pre_fault(&fault).await {
        return r;
    }
    let base = base_url(&st.sim, &headers);
    let passphrase = st.sim.settings().passphrase.clone();
    let (text, latest) = {
        let l = st.sim.ledger();
        (to_pretty(&render::root(&base, &l, &passphrase)), l.latest)
    };
    rest_response(&st, text, latest, HAL, fault)
}

/// A closed ledger still held; 404 for one not closed yet or past retention, as Horizon.
pub(super) async fn ledger(
    State(st): State<AppState>,
    Path(sequence): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let fault = st.sim.begin_request(RouteKind::Ledger, &uri, &headers);
    if let Some(r) = pre_fault(&fault).await {
        return r;
    }
    let Ok(sequence) = sequence.parse::<u32>() else {
        return problem_response(&Problem::invalid_field("sequence", "not a ledger sequence"));
    };
    let base = base_url(&st.sim, &headers);
    let (text, latest) = {
        let l = st.sim.ledger();
        if sequence == 0 || sequence > l.latest || !l.retained(sequence) {
            return problem_response(&Problem::not_found());
        }
        (
            to_pretty(&render::ledger_record(&base, &l, sequence)),
            l.latest,
        )
    };
    rest_response(&st, text, latest, HAL, fault)
}

/// An account entry: balances, trustlines with their limits, the sequence number; 404 for an
/// account the ledger never saw or one scripted away.
pub(super) async fn account(
    State(st): State<AppState>,
    Path(account): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let fault = st.sim.begin_request(RouteKind::Account, &uri, &headers);
    if let Some(r) = pre_fault(&fault).await {
        return r;
    }
    let Ok(account) = account.parse::<AccountId>() else {
        return problem_response(&Problem::invalid_field("account_id", "invalid address"));
    };
    let base = base_url(&st.sim, &headers);
    let (text, latest) = {
        let mut l = st.sim.ledger();
        let Some((sequence, state)) = l.account_entry(&account) else {
            return problem_response(&Problem::not_found());
        };
        (
            to_pretty(&render::account_record(
                &base, &l, &account, sequence, &state,
            )),
            l.latest,
        )
    };
    rest_response(&st, text, latest, HAL, fault)
}

pub(super) async fn fallback(State(st): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let fault = st.sim.begin_request(RouteKind::Other, &uri, &headers);
    if let Some(r) = pre_fault(&fault).await {
        return r;
    }
    problem_response(&Problem::not_found())
}

pub(super) async fn account_payments(
    State(st): State<AppState>,
    Path(account): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let kinds = (RouteKind::AccountPayments, RouteKind::AccountPaymentsStream);
    payments(st, Some(account), kinds, uri, headers).await
}

/// `GET /payments`: every payment operation of the network, each once (a contract transfer
/// paying several accounts is one record listing them all in `asset_balance_changes`), with
/// the same paging, streaming, headers and faults as an account's payments.
pub(super) async fn network_payments(
    State(st): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let kinds = (RouteKind::Payments, RouteKind::PaymentsStream);
    payments(st, None, kinds, uri, headers).await
}

/// Both payments collections: `account` is the path's `{account_id}`, `None` for the
/// network's; `kinds` are the route's REST and stream kinds.
async fn payments(
    st: AppState,
    account: Option<String>,
    (rest_kind, stream_kind): (RouteKind, RouteKind),
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let stream = wants_stream(&headers);
    let kind = if stream { stream_kind } else { rest_kind };
    let fault = st.sim.begin_request(kind, &uri, &headers);
    if let Some(r) = pre_fault(&fault).await {
        return r;
    }
    let q = parse_query(uri.query().unwrap_or(""));
    let base = base_url(&st.sim, &headers);
    let scope = match account.map(|a| a.parse::<AccountId>()) {
        None => Scope::Network,
        Some(Ok(account)) => Scope::Account(account),
        Some(Err(_)) => {
            return problem_response(&Problem::invalid_field("account_id", "invalid address"));
        }
    };
    let (text, latest) = {
        let ledger = st.sim.ledger();
        let p = match page_params(&q, &headers, &ledger) {
            Ok(p) => p,
            Err(e) => return problem_response(&e),
        };
        if let Scope::Account(account) = &scope
            && !ledger.known.contains(account)
        {
            return problem_response(&Problem::not_found());
        }
        if stream {
            drop(ledger);
            return stream_response(&st, base, scope, p, fault);
        }
        let refs = ledger.page(&scope, p.after, p.asc, p.limit, p.include_failed);
        ops_page(&base, &ledger, &refs, uri.path(), &q, &p)
    };
    rest_response(&st, text, latest, HAL, fault)
}

pub(super) async fn transaction(
    State(st): State<AppState>,
    Path(tx_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let fault = st.sim.begin_request(RouteKind::Transaction, &uri, &headers);
    if let Some(r) = pre_fault(&fault).await {
        return r;
    }
    if let Some(status) = st.sim.failing_lookup(&tx_id) {
        return problem_response(&Problem::server(status));
    }
    if !valid_hash(&tx_id) {
        return problem_response(&Problem::invalid_field("tx_id", "invalid hash format"));
    }
    let base = base_url(&st.sim, &headers);
    let (text, latest) = {
        let l = st.sim.ledger();
        let Some(stx) = l.by_hash.get(&tx_id).map(|&i| &l.txs[i as usize]) else {
            return problem_response(&Problem::not_found());
        };
        if !l.retained(stx.ledger) {
            return problem_response(&Problem::not_found());
        }
        (to_pretty(&render::tx_record(&base, stx)), l.latest)
    };
    rest_response(&st, text, latest, HAL, fault)
}

pub(super) async fn transaction_payments(
    State(st): State<AppState>,
    Path(tx_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let fault = st
        .sim
        .begin_request(RouteKind::TransactionPayments, &uri, &headers);
    if let Some(r) = pre_fault(&fault).await {
        return r;
    }
    if let Some(status) = st.sim.failing_lookup(&tx_id) {
        return problem_response(&Problem::server(status));
    }
    if !valid_hash(&tx_id) {
        return problem_response(&Problem::invalid_field("tx_id", "invalid hash format"));
    }
    let q = parse_query(uri.query().unwrap_or(""));
    let base = base_url(&st.sim, &headers);
    let (text, latest) = {
        let l = st.sim.ledger();
        let p = match page_params(&q, &headers, &l) {
            Ok(p) => p,
            Err(e) => return problem_response(&e),
        };
        let Some(&i) = l.by_hash.get(&tx_id) else {
            return problem_response(&Problem::not_found());
        };
        if !l.retained(l.txs[i as usize].ledger) {
            return problem_response(&Problem::not_found());
        }
        // A transaction-scoped query always includes failed operations.
        let mut refs: Vec<PaymentRef> = l
            .tx_payments(i as usize)
            .into_iter()
            .filter(|r| {
                if p.asc {
                    r.toid > p.after
                } else {
                    r.toid < p.after
                }
            })
            .collect();
        if !p.asc {
            refs.reverse();
        }
        refs.truncate(p.limit);
        ops_page(&base, &l, &refs, uri.path(), &q, &p)
    };
    rest_response(&st, text, latest, HAL, fault)
}

pub(super) async fn operation_effects(
    State(st): State<AppState>,
    Path(op_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let fault = st
        .sim
        .begin_request(RouteKind::OperationEffects, &uri, &headers);
    if let Some(r) = pre_fault(&fault).await {
        return r;
    }
    let Ok(op_id) = op_id.parse::<i64>() else {
        return problem_response(&Problem::invalid_field("op_id", "invalid int64 value"));
    };
    if op_id <= 0 {
        return problem_response(&Problem::invalid_field("op_id", "invalid int64 value"));
    }
    let q = parse_query(uri.query().unwrap_or(""));
    let base = base_url(&st.sim, &headers);
    let asc = match param(&q, "order") {
        "" | "asc" => true,
        "desc" => false,
        _ => return problem_response(&Problem::invalid_field("order", "order: invalid value")),
    };
    let limit = match param(&q, "limit") {
        "" => 10usize,
        s => match s.parse::<i64>() {
            Ok(n) if (1..=200).contains(&n) => n as usize,
            Ok(_) => {
                return problem_response(&Problem::invalid_field(
                    "limit",
                    "invalid limit: value provided that is over limit max of 200",
                ));
            }
            Err(_) => {
                return problem_response(&Problem::invalid_field("limit", "unparseable value"));
            }
        },
    };
    // Effect cursors are "<operation id>-<order>".
    let cursor = param(&q, "cursor").to_owned();
    let after: Option<(i64, usize)> = if cursor.is_empty() {
        None
    } else {
        let (a, b) = cursor.split_once('-').unwrap_or((cursor.as_str(), "0"));
        match (a.parse::<i64>(), b.parse::<usize>()) {
            (Ok(a), Ok(b)) if a >= 0 => Some((a, b)),
            _ => return problem_response(&Problem::invalid_field("cursor", "invalid value")),
        }
    };
    let (text, latest) = {
        let l = st.sim.ledger();
        let ledger_seq = toid::ledger(op_id);
        let order = ((op_id >> 12) & 0xF_FFFF) as u32;
        let index = (op_id & 0xFFF) as usize;
        let mut records = match l.tx_at(ledger_seq, order) {
            Some(i) if index >= 1 && index <= l.txs[i].tx.ops.len() && l.retained(ledger_seq) => {
                render::effects(&base, &l.txs[i], index - 1, op_id)
            }
            _ => Vec::new(),
        };
        let key = |k: usize| (op_id, k + 1);
        let mut keyed: Vec<(usize, _)> = records.drain(..).enumerate().collect();
        keyed.retain(|(k, _)| match after {
            None => true,
            Some(c) if asc => key(*k) > c,
            Some(c) => key(*k) < c,
        });
        if !asc {
            keyed.reverse();
        }
        keyed.truncate(limit);
        let fl = match (keyed.first(), keyed.last()) {
            (Some((a, _)), Some((b, _))) => {
                Some((format!("{op_id}-{}", a + 1), format!("{op_id}-{}", b + 1)))
            }
            _ => None,
        };
        let page = render::page(
            &render::PageSpec {
                base: &base,
                path: uri.path(),
                params: &q,
                cursor: &cursor,
                asc,
                limit,
            },
            fl,
            keyed.into_iter().map(|(_, r)| r).collect(),
        );
        (to_pretty(&page), l.latest)
    };
    rest_response(&st, text, latest, HAL, fault)
}
