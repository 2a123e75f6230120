//! `/ui/refunds?status=...`: refunds newest first, those awaiting a signature unless another
//! status is asked for, a page at a time by keyset. Each awaiting refund shows its SEP-7 URI as
//! a QR code the merchant scans with a wallet to sign it. The page changes nothing: preparing
//! and canceling stay on the API and the CLI.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use orbitpay_store::models::RefundRow;
use orbitpay_store::refund_lists;
use orbitpay_store::refunds::{AWAITING_SIGNATURE, CANCELED, COMPLETED};
use serde::Deserialize;
use uuid::Uuid;

use super::cursor;
use crate::error::conn;
use crate::{PageError, UiState, format, qr};

/// Refunds per page: each awaiting one carries a QR code (some 50 KiB of SVG, one path
/// segment per dark module, and a few milliseconds to encode).
const REFUND_PAGE: i64 = 10;

/// The status filters, in the order the page offers them.
const FILTERS: [&str; 4] = [AWAITING_SIGNATURE, COMPLETED, CANCELED, "all"];

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    #[serde(default)]
    status: String,
    #[serde(default)]
    before: String,
}

/// One refund as a row of a table (here and on its session's page).
pub(crate) struct RefundView {
    pub id: String,
    pub status: String,
    pub status_label: String,
    pub amount: String,
    pub asset: String,
    pub asset_stored: String,
    pub destination: String,
    pub memo_type: String,
    pub memo: String,
    pub method: String,
    pub valid_until: String,
    pub created_at: String,
    /// `session` or `unmatched payment #id`, with a link when the source has a page.
    pub source: String,
    pub source_link: Option<String>,
    pub tx_hash: Option<String>,
    /// The SEP-7 URI and its QR code, for a refund still awaiting its signature.
    pub uri: Option<String>,
    pub qr: Option<String>,
}

impl RefundView {
    /// `with_qr`: draw the code (the refunds page) or not (a session's page links there).
    pub fn of(r: &RefundRow, passphrase: &str, with_qr: bool) -> RefundView {
        let (source, source_link) = match (r.session_id, r.unmatched_id) {
            (Some(s), _) => ("session".to_owned(), Some(format!("/ui/sessions/{s}"))),
            (None, Some(u)) => (
                format!("unmatched payment #{u}"),
                Some("/ui/money#unmatched".to_owned()),
            ),
            (None, None) => (String::new(), None),
        };
        let uri = (r.status == AWAITING_SIGNATURE).then(|| r.sep7_uri(passphrase));
        RefundView {
            id: r.id.to_string(),
            status: r.status.clone(),
            status_label: r.status.replace('_', " "),
            amount: format::stroops(i128::from(r.amount)),
            asset: format::asset(&r.asset),
            asset_stored: r.asset.clone(),
            destination: r.destination.clone(),
            memo_type: r.memo_type.clone(),
            memo: format::memo(
                Some(&r.memo_type),
                r.memo_value.as_deref(),
                r.memo_bytes.as_deref(),
            ),
            method: r.method.replace('_', " "),
            valid_until: format::time(r.valid_until),
            created_at: format::time(r.created_at),
            source,
            source_link,
            tx_hash: r.tx_hash.clone(),
            qr: uri.as_deref().filter(|_| with_qr).and_then(qr::svg),
            uri,
        }
    }
}

struct Filter {
    name: &'static str,
    label: String,
    link: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "refunds.html")]
struct Refunds {
    title: &'static str,
    now: String,
    filters: Vec<Filter>,
    rows: Vec<RefundView>,
    next: Option<String>,
}

pub async fn page(
    State(state): State<Arc<UiState>>,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    let status = FILTERS
        .into_iter()
        .find(|f| *f == params.status)
        .unwrap_or(AWAITING_SIGNATURE);
    let before = params.before.parse::<Uuid>().ok();
    let mut c = conn(&state).await?;
    let rows = refund_lists::newest(
        &mut c,
        (status != "all").then_some(status),
        before,
        REFUND_PAGE,
    )
    .await?;
    drop(c);
    let next = (rows.len() as i64 == REFUND_PAGE).then(|| {
        let last = rows[rows.len() - 1].id.to_string();
        cursor::link("/ui/refunds", &[("status", status), ("before", &last)])
    });
    let view = Refunds {
        title: "Refunds",
        now: super::now(),
        filters: FILTERS
            .into_iter()
            .map(|f| Filter {
                name: f,
                label: f.replace('_', " "),
                link: cursor::link("/ui/refunds", &[("status", f)]),
                current: f == status,
            })
            .collect(),
        rows: rows
            .iter()
            .map(|r| RefundView::of(r, &state.network_passphrase, true))
            .collect(),
        next,
    };
    super::html(&view)
}
