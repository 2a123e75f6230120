//! The transactional outbox. Every state change writes its event in the same transaction, so an
//! event exists exactly when the change committed; the feed (`GET /v1/events`) and the webhook
//! dispatcher read it in `id` order. Inserting an event also inserts its webhook deliveries
//! ([`crate::deliveries::fan_out`]), in the same transaction.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::StoreError;
use crate::models::{DeliveryState, NewOutboxEvent, OutboxEventRow};
use crate::schema::{outbox_events, webhook_deliveries};

/// The event names merchants subscribe to. One list, so a typo cannot invent a new event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    SessionCreated,
    /// A transaction claimed the session; settlement follows.
    SessionProcessing,
    SessionPaid,
    /// A later operation of the transaction that paid the session added to its payment.
    SessionOverpaid,
    /// A payment was credited but the session is still short; it is `pending` again.
    SessionPartiallyPaid,
    /// A claim was dropped (the transaction is not on the ledger): `processing` -> `pending`.
    SessionReleased,
    SessionCancelled,
    SessionExpired,
    /// Money for a session that was already paid, expired or cancelled.
    SessionLatePayment,
    /// Money that names no session, or that could not be interpreted.
    PaymentUnmatched,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::SessionCreated => "session.created",
            EventType::SessionProcessing => "session.processing",
            EventType::SessionPaid => "session.paid",
            EventType::SessionOverpaid => "session.overpaid",
            EventType::SessionPartiallyPaid => "session.partially_paid",
            EventType::SessionReleased => "session.released",
            EventType::SessionCancelled => "session.cancelled",
            EventType::SessionExpired => "session.expired",
            EventType::SessionLatePayment => "session.late_payment",
            EventType::PaymentUnmatched => "payment.unmatched",
        }
    }
}

/// An event to append; built where the change happens, inserted with it.
pub fn event(
    event_type: EventType,
    session_id: Option<Uuid>,
    payload: serde_json::Value,
) -> NewOutboxEvent {
    NewOutboxEvent {
        event_id: Uuid::now_v7(),
        event_type: event_type.as_str().to_owned(),
        session_id,
        payload,
    }
}

/// Appends several events in one statement, in order.
pub async fn insert_all(
    conn: &mut AsyncPgConnection,
    events: &[NewOutboxEvent],
) -> Result<(), StoreError> {
    if !events.is_empty() {
        diesel::insert_into(outbox_events::table)
            .values(events)
            .execute(conn)
            .await?;
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        crate::deliveries::fan_out(conn, &ids).await?;
    }
    Ok(())
}

/// Appends an event; call it inside the transaction that made the change it describes.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    event_type: EventType,
    session_id: Option<Uuid>,
    payload: serde_json::Value,
) -> Result<OutboxEventRow, StoreError> {
    let row = event(event_type, session_id, payload);
    let inserted: OutboxEventRow = diesel::insert_into(outbox_events::table)
        .values(&row)
        .returning(OutboxEventRow::as_returning())
        .get_result(conn)
        .await?;
    crate::deliveries::fan_out(conn, &[inserted.event_id]).await?;
    Ok(inserted)
}

/// Events with `id > after`, oldest first: a keyset feed that never skips or repeats.
pub async fn list_after(
    conn: &mut AsyncPgConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<OutboxEventRow>, StoreError> {
    Ok(outbox_events::table
        .filter(outbox_events::id.gt(after))
        .order(outbox_events::id.asc())
        .limit(limit)
        .select(OutboxEventRow::as_select())
        .load(conn)
        .await?)
}

pub async fn for_session(
    conn: &mut AsyncPgConnection,
    session_id: Uuid,
) -> Result<Vec<OutboxEventRow>, StoreError> {
    Ok(outbox_events::table
        .filter(outbox_events::session_id.eq(session_id))
        .order(outbox_events::id.asc())
        .select(OutboxEventRow::as_select())
        .load(conn)
        .await?)
}

/// Deliveries still owed and the age in seconds of the oldest, by the database clock.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OutboxDepth {
    pub undelivered: i64,
    pub oldest_age_seconds: f64,
}

pub async fn depth(conn: &mut AsyncPgConnection) -> Result<OutboxDepth, StoreError> {
    use diesel::dsl::{count_star, sql};
    use diesel::sql_types::{Double, Nullable};
    let (undelivered, oldest): (i64, Option<f64>) = webhook_deliveries::table
        .filter(
            webhook_deliveries::state.eq_any([DeliveryState::Pending, DeliveryState::Delivering]),
        )
        .select((
            count_star(),
            sql::<Nullable<Double>>("EXTRACT(EPOCH FROM now() - min(created_at))::float8"),
        ))
        .get_result(conn)
        .await?;
    Ok(OutboxDepth {
        undelivered,
        oldest_age_seconds: oldest.unwrap_or(0.0),
    })
}
