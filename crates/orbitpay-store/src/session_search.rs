//! Finding sessions the way a person asks for them (the operator page's search box): by id,
//! by reference, by a transaction hash that claimed or paid them, or by status; newest first,
//! keyset-paginated on `(created_at, id)` so page 10 000 costs what page 1 does.
//!
//! The cursor carries the last row's `created_at` and id (not just the id, as the API's
//! [`crate::sessions::list`] does), so a page is one indexed range read with no cursor lookup.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use orbitpay_core::SessionStatus;
use uuid::Uuid;

use crate::StoreError;
use crate::models::{PgSessionStatus, Session, SessionRow};
use crate::numeric::U64Numeric;
use crate::schema::{payments, sessions};

/// What one search term means, decided by its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// Every session.
    All,
    Id(Uuid),
    /// A decimal u64: the memo id or muxed id the payer used.
    Reference(u64),
    /// 64 hex digits: a transaction that paid the session (its outer or inner hash) or holds
    /// its claim.
    TxHash(String),
    Status(SessionStatus),
}

impl Term {
    /// Reads a search box. Blank is [`Term::All`]; anything that fits no shape is `None`.
    pub fn parse(input: &str) -> Option<Term> {
        let s = input.trim();
        if s.is_empty() {
            return Some(Term::All);
        }
        if let Ok(id) = s.parse::<Uuid>() {
            return Some(Term::Id(id));
        }
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(Term::TxHash(s.to_ascii_lowercase()));
        }
        if let Ok(r) = s.parse::<u64>() {
            return Some(Term::Reference(r));
        }
        SessionStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .map(Term::Status)
    }
}

/// Where the previous page ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct After {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

/// Up to `limit` sessions matching `term`, newest first, after `after`.
pub async fn search(
    conn: &mut AsyncPgConnection,
    term: &Term,
    after: Option<After>,
    limit: i64,
) -> Result<Vec<Session>, StoreError> {
    let mut query = sessions::table
        .select(SessionRow::as_select())
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .limit(limit)
        .into_boxed();
    match term {
        Term::All => {}
        Term::Id(id) => query = query.filter(sessions::id.eq(*id)),
        Term::Reference(r) => query = query.filter(sessions::reference.eq(U64Numeric(*r))),
        Term::Status(s) => query = query.filter(sessions::status.eq(PgSessionStatus(*s))),
        Term::TxHash(h) => {
            // The paying sessions first, as a list: an `OR` with a subquery cannot use the
            // indexes of both sides, and walked every session newest first (380 ms at 1M).
            let paid_by: Vec<Uuid> = payments::table
                .filter(
                    payments::tx_hash
                        .eq(h.clone())
                        .or(payments::inner_tx_hash.eq(h.clone())),
                )
                .select(payments::session_id)
                .load(conn)
                .await?;
            query = query.filter(
                sessions::processing_tx_hash
                    .eq(h.clone())
                    .or(sessions::id.eq_any(paid_by)),
            );
        }
    }
    if let Some(after) = after {
        query = query.filter(before(after));
    }
    let rows: Vec<SessionRow> = query.load(conn).await?;
    rows.into_iter().map(Session::try_from).collect()
}

/// Rows after `after` in newest-first order. The redundant `created_at <=` is the bound an
/// index range starts from; the `OR` alone is a filter, and a deep page read every row above
/// it (135 ms at 1M).
fn before(
    after: After,
) -> Box<dyn BoxableExpression<sessions::table, diesel::pg::Pg, SqlType = diesel::sql_types::Bool>>
{
    Box::new(
        sessions::created_at.le(after.created_at).and(
            sessions::created_at
                .lt(after.created_at)
                .or(sessions::id.lt(after.id)),
        ),
    )
}

/// Sessions that received more than they asked for, newest first, keyset-paginated (the
/// partial index `sessions_overpaid_idx` holds only them).
pub async fn overpaid(
    conn: &mut AsyncPgConnection,
    after: Option<After>,
    limit: i64,
) -> Result<Vec<Session>, StoreError> {
    let mut query = sessions::table
        .filter(sessions::amount_received.gt(sessions::amount))
        .select(SessionRow::as_select())
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(before(after));
    }
    let rows: Vec<SessionRow> = query.load(conn).await?;
    rows.into_iter().map(Session::try_from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_term_is_read_by_its_shape() {
        assert_eq!(Term::parse("  "), Some(Term::All));
        assert_eq!(Term::parse("42"), Some(Term::Reference(42)));
        assert_eq!(Term::parse("PAID"), Some(Term::Status(SessionStatus::Paid)));
        let hash = "AB".repeat(32);
        assert_eq!(Term::parse(&hash), Some(Term::TxHash("ab".repeat(32))));
        let id = Uuid::now_v7();
        assert_eq!(Term::parse(&id.to_string()), Some(Term::Id(id)));
        assert_eq!(Term::parse("<script>"), None);
    }
}
