//! The transactional outbox. Every state change writes its event in the same transaction, so an
//! event exists exactly when the change committed; the feed (`GET /v1/events`) and the webhook
//! dispatcher read it in commit order (see [`list_after`]). Inserting an event also inserts its webhook deliveries
//! ([`crate::deliveries::fan_out`]), in the same transaction.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::StoreError;
use crate::feed::Feed;
use crate::models::{DeliveryState, NewOutboxEvent, OutboxEventRow};
use crate::schema::{outbox_events, webhook_deliveries};

/// The event names merchants subscribe to. One list, so a typo cannot invent a new event; its
/// JSON form is the name (`session.paid`), as the webhook body's `type` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum EventType {
    #[serde(rename = "session.created")]
    SessionCreated,
    /// A transaction claimed the session; settlement follows.
    #[serde(rename = "session.processing")]
    SessionProcessing,
    #[serde(rename = "session.paid")]
    SessionPaid,
    /// A later operation of the transaction that paid the session added to its payment.
    #[serde(rename = "session.overpaid")]
    SessionOverpaid,
    /// A payment was credited but the session is still short; it is `pending` again (the
    /// "underpaid" event).
    #[serde(rename = "session.partially_paid")]
    SessionPartiallyPaid,
    /// A claim was dropped (the transaction is not on the ledger): `processing` -> `pending`.
    #[serde(rename = "session.released")]
    SessionReleased,
    #[serde(rename = "session.cancelled")]
    SessionCancelled,
    #[serde(rename = "session.expired")]
    SessionExpired,
    /// Money for a session that was already paid, expired or cancelled.
    #[serde(rename = "session.late_payment")]
    SessionLatePayment,
    /// Money that names no session, or that could not be interpreted.
    #[serde(rename = "payment.unmatched")]
    PaymentUnmatched,
    /// The recovery job resolved a claim left open (settled or released it), beside the
    /// usual event of what it did.
    #[serde(rename = "session.recovered")]
    SessionRecovered,
    /// A refund was prepared: its unsigned transaction awaits the merchant's signature.
    #[serde(rename = "refund.created")]
    RefundCreated,
    /// The ledger shows a refund's money returned.
    #[serde(rename = "refund.completed")]
    RefundCompleted,
    /// The merchant canceled a refund; its amount can be refunded again.
    #[serde(rename = "refund.canceled")]
    RefundCanceled,
}

impl EventType {
    pub const ALL: [EventType; 14] = [
        EventType::SessionCreated,
        EventType::SessionProcessing,
        EventType::SessionPaid,
        EventType::SessionOverpaid,
        EventType::SessionPartiallyPaid,
        EventType::SessionReleased,
        EventType::SessionCancelled,
        EventType::SessionExpired,
        EventType::SessionLatePayment,
        EventType::PaymentUnmatched,
        EventType::SessionRecovered,
        EventType::RefundCreated,
        EventType::RefundCompleted,
        EventType::RefundCanceled,
    ];

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
            EventType::SessionRecovered => "session.recovered",
            EventType::RefundCreated => "refund.created",
            EventType::RefundCompleted => "refund.completed",
            EventType::RefundCanceled => "refund.canceled",
        }
    }
}

/// An event to append; built where the change happens, inserted with it. The store's own
/// writers build `payload` from its typed definition ([`crate::events::EventData::event`]).
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

/// Appends several events in one statement, in order, with their deliveries.
///
/// A session's event carries, under `session`, its snapshot (`session_snapshots`: state,
/// `version`, payments) as this transaction left it, read here at insert, so it is always the
/// state that commits with the event. The caller's fields describe the event itself (the
/// credit, the reason) and stay as given.
pub async fn insert_all(
    conn: &AsyncPgConnection,
    events: &[NewOutboxEvent],
) -> Result<(), StoreError> {
    append(conn, events).await.map(drop)
}

/// Appends an event; call it inside the transaction that made the change it describes. The
/// connection is shared so that the insert can be pipelined with the change's other writes.
pub async fn insert(
    conn: &AsyncPgConnection,
    event_type: EventType,
    session_id: Option<Uuid>,
    payload: serde_json::Value,
) -> Result<OutboxEventRow, StoreError> {
    let mut rows = append(conn, &[event(event_type, session_id, payload)]).await?;
    rows.pop()
        .ok_or_else(|| StoreError::Corrupt("an event insert returned no row".into()))
}

/// Shared, not `&mut`: the insert and its fan-out are pipelined on the connection, and callers
/// pipeline this behind their other writes.
async fn append(
    conn: &AsyncPgConnection,
    events: &[NewOutboxEvent],
) -> Result<Vec<OutboxEventRow>, StoreError> {
    use diesel::sql_types::{Array, Jsonb, Nullable, Text, Uuid as SqlUuid};
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let sessions: Vec<Option<Uuid>> = events.iter().map(|e| e.session_id).collect();
    let payloads: Vec<&serde_json::Value> = events.iter().map(|e| &e.payload).collect();
    let rows = crate::prepared::prepared(
        "INSERT INTO outbox_events (event_id, event_type, session_id, payload)
         SELECT v.event_id, v.event_type, v.session_id,
                CASE WHEN ss.snapshot IS NULL THEN v.payload
                     ELSE v.payload || jsonb_build_object('session', ss.snapshot) END
         FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::jsonb[])
              WITH ORDINALITY AS v(event_id, event_type, session_id, payload, ord)
         LEFT JOIN session_snapshots ss ON ss.session_id = v.session_id
         ORDER BY v.ord
         RETURNING id, event_id, event_type, session_id, payload, created_at",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<Text>, _>(&types)
    .bind::<Array<Nullable<SqlUuid>>, _>(&sessions)
    .bind::<Array<Jsonb>, _>(&payloads)
    .load::<OutboxEventRow>(&mut &*conn);
    // Sent one behind the other, run in order: the fan-out reads the rows just inserted.
    let (rows, ()) = futures::try_join!(
        async { rows.await.map_err(StoreError::from) },
        crate::deliveries::fan_out(conn, &ids),
    )?;
    Ok(rows)
}

pub use crate::feed::FeedError;

/// Events after the event with row id `after` (0: from the start), in commit order
/// ([`crate::feed`]): a reader that pages with the last id it saw never skips an event,
/// whatever order concurrent writers commit in.
pub async fn list_after(
    conn: &mut AsyncPgConnection,
    after: i64,
    limit: i64,
) -> Result<Result<Vec<OutboxEventRow>, FeedError>, StoreError> {
    const EVENTS: Feed = Feed {
        table: "outbox_events",
        columns: "t.id, t.event_id, t.event_type, t.session_id, t.payload, t.created_at",
    };
    EVENTS.page(conn, after, limit).await
}

/// The event with this id (the webhook id), if it is still kept.
pub async fn find(
    conn: &mut AsyncPgConnection,
    event_id: Uuid,
) -> Result<Option<OutboxEventRow>, StoreError> {
    Ok(outbox_events::table
        .filter(outbox_events::event_id.eq(event_id))
        .select(OutboxEventRow::as_select())
        .first(conn)
        .await
        .optional()?)
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

/// Deliveries still owed, the age in seconds of the oldest (by the database clock), and the
/// dead ones an admin has to look at.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OutboxDepth {
    pub undelivered: i64,
    pub oldest_age_seconds: f64,
    pub dead: i64,
}

pub async fn depth(conn: &mut AsyncPgConnection) -> Result<OutboxDepth, StoreError> {
    use diesel::dsl::sql;
    use diesel::sql_types::{BigInt, Double, Nullable};
    let (undelivered, oldest, dead): (i64, Option<f64>, i64) = webhook_deliveries::table
        .filter(webhook_deliveries::state.eq_any([
            DeliveryState::Pending,
            DeliveryState::Delivering,
            DeliveryState::Dead,
        ]))
        .select((
            sql::<BigInt>("count(*) FILTER (WHERE state <> 'dead')"),
            sql::<Nullable<Double>>(
                "EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE state <> 'dead'))::float8",
            ),
            sql::<BigInt>("count(*) FILTER (WHERE state = 'dead')"),
        ))
        .get_result(conn)
        .await?;
    Ok(OutboxDepth {
        undelivered,
        oldest_age_seconds: oldest.unwrap_or(0.0),
        dead,
    })
}
