//! `/ui/sessions?q=...`: find a session by id, reference, tx hash or status; newest first,
//! a page at a time by keyset.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use orbitpay_store::Session;
use orbitpay_store::session_search::{self, After, Term};
use serde::Deserialize;

use super::{PAGE, cursor};
use crate::error::conn;
use crate::format;
use crate::{PageError, UiState};

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    #[serde(default)]
    q: String,
    #[serde(default)]
    after: String,
}

pub(crate) struct SessionRowView {
    pub id: String,
    pub reference: String,
    pub status: &'static str,
    pub amount: String,
    pub received: String,
    pub asset: String,
    pub order_id: String,
    pub created_at: String,
}

impl SessionRowView {
    pub fn of(s: &Session) -> SessionRowView {
        SessionRowView {
            id: s.id.to_string(),
            reference: s.reference.to_string(),
            status: s.status.as_str(),
            amount: format::stroops(i128::from(s.amount.stroops())),
            received: format::stroops(i128::from(s.amount_received.stroops())),
            asset: format::asset(&s.asset.to_string()),
            order_id: s.order_id.clone().unwrap_or_default(),
            created_at: format::time(s.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct Sessions {
    title: &'static str,
    now: String,
    q: String,
    problem: Option<String>,
    rows: Vec<SessionRowView>,
    next: Option<String>,
}

pub async fn list(
    State(state): State<Arc<UiState>>,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    let (rows, problem) = match Term::parse(&params.q) {
        None => (
            Vec::new(),
            Some(
                "Search by a session id, a reference (digits), a transaction hash (64 hex digits) \
                 or a status."
                    .to_owned(),
            ),
        ),
        Some(term) => {
            let mut c = conn(&state).await?;
            let after = cursor::decode(&params.after);
            (
                session_search::search(&mut c, &term, after, PAGE).await?,
                None,
            )
        }
    };
    let next = (rows.len() as i64 == PAGE).then(|| {
        let last = &rows[rows.len() - 1];
        let after = cursor::encode(After {
            created_at: last.created_at,
            id: last.id,
        });
        cursor::link("/ui/sessions", &[("q", &params.q), ("after", &after)])
    });
    let view = Sessions {
        title: "Sessions",
        now: super::now(),
        q: params.q,
        problem,
        rows: rows.iter().map(SessionRowView::of).collect(),
        next,
    };
    super::html(&view)
}
