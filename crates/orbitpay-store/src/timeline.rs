//! A session's story, for the people who look at it (`orbitpay sessions show`, the operator
//! page): the session, every event written for it in commit order, each with the ledger and transaction
//! behind it and where its webhooks stand, plus the payments credited to it.
//!
//! Data only: the admin API shapes it as JSON and the CLI renders it as text, so both show the
//! same thing. Everything is read in one read-only repeatable-read transaction, so the events,
//! their deliveries and the payments are one moment's state (a delivery is never newer than
//! the events beside it).

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::deliveries::AttemptRow;
use crate::models::{OutboxEventRow, PaymentRow, WebhookDeliveryRow};
use crate::schema::{webhook_attempts, webhook_deliveries};
use crate::{Session, StoreError};

/// One session, its events oldest first, and its payments.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub session: Session,
    pub events: Vec<TimelineEvent>,
    /// The payments credited to the session, oldest first.
    pub payments: Vec<PaymentRow>,
}

/// An event and what stands behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEvent {
    pub event: OutboxEventRow,
    /// The transaction the event is about (a claim, a credit, a late or unmatched payment);
    /// none for creation, cancellation, expiry.
    pub tx_hash: Option<String>,
    /// The ledger that transaction closed in: the event's own when it names one (credits,
    /// unmatched payments), else the payment that transaction made to the session (a claim
    /// settled later); none while it is unconfirmed.
    pub ledger: Option<i32>,
    /// For an event about one operation (a credit, a late or unmatched payment): the money it
    /// moved, a 7-decimal string as the event carries it.
    pub amount: Option<String>,
    /// The event's deliveries, one per endpoint, oldest first.
    pub deliveries: Vec<DeliveryStatus>,
}

/// A delivery and its most recent attempt (none before the first POST).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryStatus {
    pub delivery: WebhookDeliveryRow,
    pub last_attempt: Option<AttemptRow>,
}

/// An event row with the transaction and ledger read beside it.
#[derive(QueryableByName)]
struct EventWithTx {
    #[diesel(embed)]
    event: OutboxEventRow,
    #[diesel(sql_type = Nullable<Text>)]
    tx_hash: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Integer>)]
    ledger: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    amount: Option<String>,
}

/// The session's timeline, or `None` when there is no such session.
///
/// Events come in the feed's order, `(xact_id, id)`: the order webhook receivers and feed
/// readers see them. A session's events are written under its row lock, so for one session
/// that is also the order their transactions committed in.
pub async fn for_session(
    conn: &mut AsyncPgConnection,
    session_id: Uuid,
) -> Result<Option<Timeline>, StoreError> {
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(async |conn| {
            let Some(session) = crate::sessions::find(conn, session_id).await? else {
                return Ok(None);
            };
            let rows: Vec<EventWithTx> = diesel::sql_query(
                "SELECT e.id, e.event_id, e.event_type, e.session_id, e.payload, e.created_at,
                        e.payload->>'tx_hash' AS tx_hash,
                        COALESCE((e.payload->>'ledger')::int, p.ledger) AS ledger,
                        CASE WHEN e.payload ? 'op_id'
                             THEN COALESCE(e.payload->>'credited', e.payload->>'amount')
                        END AS amount
                 FROM outbox_events e
                 LEFT JOIN payments p
                   ON p.session_id = e.session_id AND p.tx_hash = e.payload->>'tx_hash'
                 WHERE e.session_id = $1
                 ORDER BY e.xact_id, e.id",
            )
            .bind::<SqlUuid, _>(session_id)
            .load(conn)
            .await?;
            let event_ids: Vec<Uuid> = rows.iter().map(|r| r.event.event_id).collect();
            let mut deliveries = deliveries_of(conn, &event_ids).await?;
            let events = rows
                .into_iter()
                .map(|r| TimelineEvent {
                    deliveries: deliveries
                        .extract_if(.., |d| d.delivery.event_id == r.event.event_id)
                        .collect(),
                    event: r.event,
                    tx_hash: r.tx_hash,
                    ledger: r.ledger,
                    amount: r.amount,
                })
                .collect();
            let payments = crate::payments::for_session(conn, session_id).await?;
            Ok(Some(Timeline {
                session,
                events,
                payments,
            }))
        })
        .await
}

/// The deliveries of `event_ids`, oldest first, each with its latest attempt.
pub async fn deliveries_of(
    conn: &mut AsyncPgConnection,
    event_ids: &[Uuid],
) -> Result<Vec<DeliveryStatus>, StoreError> {
    let deliveries: Vec<WebhookDeliveryRow> = webhook_deliveries::table
        .filter(webhook_deliveries::event_id.eq_any(event_ids))
        .order(webhook_deliveries::id.asc())
        .select(WebhookDeliveryRow::as_select())
        .load(conn)
        .await?;
    let ids: Vec<i64> = deliveries.iter().map(|d| d.id).collect();
    let mut last: Vec<AttemptRow> = webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(&ids))
        .distinct_on(webhook_attempts::delivery_id)
        .order((
            webhook_attempts::delivery_id.asc(),
            webhook_attempts::id.desc(),
        ))
        .select(AttemptRow::as_select())
        .load(conn)
        .await?;
    Ok(deliveries
        .into_iter()
        .map(|delivery| DeliveryStatus {
            last_attempt: last
                .iter()
                .position(|a| a.delivery_id == delivery.id)
                .map(|i| last.swap_remove(i)),
            delivery,
        })
        .collect())
}
