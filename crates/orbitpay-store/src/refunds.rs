//! Refunds: creating one under its source's lock, so that what the non-canceled refunds of
//! one source add up to never exceeds what the source received, even when two requests race;
//! reading, listing, re-preparing and canceling them.
//!
//! The caller (the admin API) reads the source and Horizon first and builds the envelope with
//! no lock held; [`create`] then takes the source row's lock, recomputes what can still be
//! refunded from the locked row and the refunds committed before it, and inserts or refuses.
//! The second of two concurrent requests waits for the first's lock, sees its refund, and is
//! refused when both would not fit.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::StoreError;
use crate::events::{EventData, RefundChange};
use crate::models::{RefundRow, SessionRow, UnmatchedPaymentRow};
use crate::outbox::{self, EventType};
use crate::schema::{refunds, sessions, unmatched_payments};

pub const AWAITING_SIGNATURE: &str = "awaiting_signature";
pub const COMPLETED: &str = "completed";
pub const CANCELED: &str = "canceled";

/// Where a refund's money came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundSource {
    Unmatched(i64),
    Session(Uuid),
}

/// What one source received and what its refunds already take, as the caller reads it to
/// default an amount (the final check is [`create`]'s, under the lock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refundable {
    pub account: String,
    /// `None` when the source holds no refundable amount (an unmatched payment of unknown
    /// amount or asset, or one past i64 stroops).
    pub asset: Option<String>,
    pub received: Option<i64>,
    /// The sum of the source's refunds that are not canceled (awaiting or completed).
    pub refunded: i64,
    /// A session's price: its overpaid part is `received - amount`.
    pub session_amount: Option<i64>,
}

impl Refundable {
    /// What can still be refunded (0 when nothing).
    pub fn left(&self) -> i64 {
        self.received
            .map(|r| r.saturating_sub(self.refunded).max(0))
            .unwrap_or(0)
    }

    /// A session's overpaid part not yet refunded (0 for an unmatched payment).
    pub fn overpaid_left(&self) -> i64 {
        match (self.received, self.session_amount) {
            (Some(r), Some(a)) => (r - a - self.refunded).max(0),
            _ => 0,
        }
    }
}

/// Why [`create`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateRefused {
    SourceMissing,
    /// The refund is in another asset than the source received.
    AssetMismatch {
        received: Option<String>,
    },
    /// The amount is more than what is left to refund.
    Exceeds {
        left: i64,
    },
}

async fn sum_not_canceled(
    conn: &mut AsyncPgConnection,
    source: RefundSource,
) -> Result<i64, StoreError> {
    use diesel::dsl::sum;
    let q = refunds::table
        .filter(refunds::status.ne(CANCELED))
        .select(sum(refunds::amount))
        .into_boxed();
    let q = match source {
        RefundSource::Unmatched(id) => q.filter(refunds::unmatched_id.eq(id)),
        RefundSource::Session(id) => q.filter(refunds::session_id.eq(id)),
    };
    let total: Option<diesel::data_types::PgNumeric> = q.first(conn).await?;
    Ok(total.map(numeric_i64).unwrap_or(0))
}

/// A `sum(bigint)` (numeric) of positive amounts, each an i64: saturates past i64.
fn numeric_i64(n: diesel::data_types::PgNumeric) -> i64 {
    use diesel::data_types::PgNumeric;
    match n {
        PgNumeric::Positive { weight, digits, .. } => {
            let mut v: i128 = 0;
            for (i, d) in digits.iter().enumerate() {
                let exp = i64::from(weight) - i as i64;
                if exp < 0 {
                    break;
                }
                v = v.saturating_add(i128::from(*d) * 10_000i128.saturating_pow(exp as u32));
            }
            i64::try_from(v).unwrap_or(i64::MAX)
        }
        _ => 0,
    }
}

/// Reads (and, with `lock`, locks until the transaction ends) a source and its refunds.
/// `FOR NO KEY UPDATE`: it serializes refund creators of one source as `FOR UPDATE` would,
/// without blocking the KEY SHARE of inserts that reference the row (a payment, an event).
async fn read_source(
    conn: &mut AsyncPgConnection,
    source: RefundSource,
    lock: bool,
) -> Result<Option<Refundable>, StoreError> {
    let base = match source {
        RefundSource::Unmatched(id) => {
            let q = unmatched_payments::table
                .find(id)
                .select(UnmatchedPaymentRow::as_select());
            let row = if lock {
                q.for_no_key_update().first(conn).await.optional()?
            } else {
                q.first(conn).await.optional()?
            };
            row.map(|u| Refundable {
                account: u.account,
                asset: u.asset,
                received: u.amount.and_then(|a| i64::try_from(a.0).ok()),
                refunded: 0,
                session_amount: None,
            })
        }
        RefundSource::Session(id) => {
            let q = sessions::table.find(id).select(SessionRow::as_select());
            let row = if lock {
                q.for_no_key_update().first(conn).await.optional()?
            } else {
                q.first(conn).await.optional()?
            };
            row.map(|s| Refundable {
                account: s.account,
                asset: Some(s.asset),
                received: Some(s.amount_received),
                refunded: 0,
                session_amount: Some(s.amount),
            })
        }
    };
    let Some(mut r) = base else {
        return Ok(None);
    };
    r.refunded = sum_not_canceled(conn, source).await?;
    Ok(Some(r))
}

/// What `source` received and what its refunds take now (no lock).
pub async fn refundable(
    conn: &mut AsyncPgConnection,
    source: RefundSource,
) -> Result<Option<Refundable>, StoreError> {
    read_source(conn, source, false).await
}

/// Inserts `new` (status `awaiting_signature`) with its `refund.created` event, or refuses,
/// deciding under the source row's lock. `new`'s source columns name the source.
pub async fn create(
    conn: &mut AsyncPgConnection,
    new: &RefundRow,
) -> Result<Result<RefundRow, CreateRefused>, StoreError> {
    let source = match (new.unmatched_id, new.session_id) {
        (Some(id), None) => RefundSource::Unmatched(id),
        (None, Some(id)) => RefundSource::Session(id),
        _ => {
            return Err(StoreError::Corrupt(
                "a refund names exactly one source".into(),
            ));
        }
    };
    conn.transaction(async |conn| {
        let Some(src) = read_source(conn, source, true).await? else {
            return Ok(Err(CreateRefused::SourceMissing));
        };
        if src.asset.as_deref() != Some(new.asset.as_str()) {
            return Ok(Err(CreateRefused::AssetMismatch {
                received: src.asset,
            }));
        }
        let left = src.left();
        if new.amount > left {
            return Ok(Err(CreateRefused::Exceeds { left }));
        }
        let row: RefundRow = diesel::insert_into(refunds::table)
            .values(new)
            .returning(RefundRow::as_returning())
            .get_result(conn)
            .await?;
        write_event(conn, EventType::RefundCreated, &row).await?;
        Ok(Ok(row))
    })
    .await
}

async fn write_event(
    conn: &mut AsyncPgConnection,
    kind: EventType,
    row: &RefundRow,
) -> Result<(), StoreError> {
    let data = EventData::from(RefundChange::of(row));
    outbox::insert_all(conn, &[data.event(kind)]).await
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<RefundRow>, StoreError> {
    Ok(refunds::table
        .find(id)
        .select(RefundRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Refunds after `after` (ids are UUIDv7, so in creation order), at most `limit`: a keyset
/// page.
pub async fn list_after(
    conn: &mut AsyncPgConnection,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<RefundRow>, StoreError> {
    let mut q = refunds::table
        .select(RefundRow::as_select())
        .order(refunds::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(refunds::id.gt(after));
    }
    Ok(q.load(conn).await?)
}

/// The outcome of changing a refund that may have moved on.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Done(RefundRow),
    NotFound,
    /// Only an `awaiting_signature` refund can be re-prepared or canceled.
    NotAwaiting(RefundRow),
}

/// What [`change`] does to an awaiting refund.
enum Action<'a> {
    Cancel,
    Replace {
        envelope_xdr: &'a str,
        sequence: i64,
        valid_until: DateTime<Utc>,
    },
}

async fn change(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    action: Action<'_>,
) -> Result<Change, StoreError> {
    conn.transaction(async |conn| {
        let row: Option<RefundRow> = refunds::table
            .find(id)
            .select(RefundRow::as_select())
            .for_no_key_update()
            .first(conn)
            .await
            .optional()?;
        match row {
            None => return Ok(Change::NotFound),
            Some(r) if r.status != AWAITING_SIGNATURE => return Ok(Change::NotAwaiting(r)),
            Some(_) => {}
        }
        let target = refunds::table.find(id);
        let row: RefundRow = match action {
            Action::Cancel => {
                let row = diesel::update(target)
                    .set((
                        refunds::status.eq(CANCELED),
                        refunds::updated_at.eq(diesel::dsl::now),
                    ))
                    .returning(RefundRow::as_returning())
                    .get_result(conn)
                    .await?;
                write_event(conn, EventType::RefundCanceled, &row).await?;
                row
            }
            Action::Replace {
                envelope_xdr,
                sequence,
                valid_until,
            } => {
                diesel::update(target)
                    .set((
                        refunds::envelope_xdr.eq(envelope_xdr),
                        refunds::sequence.eq(sequence),
                        refunds::valid_until.eq(valid_until),
                        refunds::updated_at.eq(diesel::dsl::now),
                    ))
                    .returning(RefundRow::as_returning())
                    .get_result(conn)
                    .await?
            }
        };
        Ok(Change::Done(row))
    })
    .await
}

/// Cancels an awaiting refund, with its `refund.canceled` event: its amount can be refunded
/// again.
pub async fn cancel(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Change, StoreError> {
    change(conn, id, Action::Cancel).await
}

/// Replaces an awaiting refund's envelope (a fresh sequence number or time bounds).
pub async fn replace_envelope(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    envelope_xdr: &str,
    sequence: i64,
    valid_until: DateTime<Utc>,
) -> Result<Change, StoreError> {
    change(
        conn,
        id,
        Action::Replace {
            envelope_xdr,
            sequence,
            valid_until,
        },
    )
    .await
}
