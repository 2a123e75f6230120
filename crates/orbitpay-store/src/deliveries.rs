//! The webhook delivery queue: fan-out of events to endpoints, leased claims, attempt records.
//!
//! A claim is one statement (`FOR UPDATE SKIP LOCKED` then a lease), committed before the POST,
//! so no transaction stays open across the network. A dispatcher that dies mid-POST leaves a
//! `delivering` row whose lease expires and is taken over; its late report is then refused by
//! the lease check in [`record`], so two dispatchers never both decide one delivery's fate.
//!
//! An attempt is counted when its request is about to go out ([`start_attempt`], under the
//! lease), not when the lease is taken: a lease cut short by a kill, a stop or a restart sent
//! nothing, and a storm of them must not spend the retry budget of a delivery that was never
//! sent, nor make it `dead`. Each lease has its own id (`lease_id`), since the attempt count no
//! longer changes with every lease.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::StoreError;
use crate::schema::{webhook_attempts, webhook_endpoints};

/// The NOTIFY channel a fan-out signals at commit; dispatchers LISTEN on it.
pub const CHANNEL: &str = "orbitpay_webhooks";

/// Inserts one delivery per event of `event_ids`: to the session's `webhook_url` when it has
/// one, else to the default endpoint, else none. Called by `outbox::insert*` inside the
/// event's transaction, so an event and its deliveries commit (or vanish) together. Takes the
/// connection shared so that it can be pipelined behind the event insert.
pub async fn fan_out(conn: &AsyncPgConnection, event_ids: &[Uuid]) -> Result<(), StoreError> {
    crate::prepared::prepared(
        "WITH ins AS (
             INSERT INTO webhook_deliveries (event_id, url)
             SELECT e.event_id, COALESCE(s.webhook_url, d.url)
             FROM outbox_events e
             LEFT JOIN sessions s ON s.id = e.session_id
             LEFT JOIN webhook_endpoints d ON d.is_default
             WHERE e.event_id = ANY($1) AND COALESCE(s.webhook_url, d.url) IS NOT NULL
             ORDER BY e.id
             ON CONFLICT (event_id, url) DO NOTHING
             RETURNING 1)
         SELECT pg_notify($2, '') FROM (SELECT count(*) AS n FROM ins) c WHERE c.n > 0",
    )
    .bind::<Array<SqlUuid>, _>(event_ids)
    .bind::<Text, _>(CHANNEL)
    .execute(&mut &*conn)
    .await?;
    Ok(())
}

/// Wakes the dispatchers (at commit) for work an admin queued.
pub async fn notify(conn: &mut AsyncPgConnection) -> Result<(), StoreError> {
    diesel::sql_query("SELECT pg_notify($1, '')")
        .bind::<Text, _>(CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}

/// Makes `url` the default endpoint (`None`: no default). Existing deliveries keep their URL.
pub async fn set_default_endpoint(
    conn: &mut AsyncPgConnection,
    url: Option<&str>,
) -> Result<(), StoreError> {
    conn.transaction(async |conn| {
        diesel::update(webhook_endpoints::table.filter(webhook_endpoints::is_default))
            .set((
                webhook_endpoints::is_default.eq(false),
                webhook_endpoints::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
        if let Some(url) = url {
            diesel::insert_into(webhook_endpoints::table)
                .values((
                    webhook_endpoints::url.eq(url),
                    webhook_endpoints::is_default.eq(true),
                ))
                .on_conflict(webhook_endpoints::url)
                .do_update()
                .set((
                    webhook_endpoints::is_default.eq(true),
                    webhook_endpoints::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
        }
        Ok(())
    })
    .await
}

/// Stops deliveries to `url` (after a 410 Gone) until [`enable_endpoint`].
pub async fn disable_endpoint(
    conn: &mut AsyncPgConnection,
    url: &str,
    reason: &str,
) -> Result<(), StoreError> {
    diesel::insert_into(webhook_endpoints::table)
        .values((
            webhook_endpoints::url.eq(url),
            webhook_endpoints::disabled_at.eq(diesel::dsl::now),
            webhook_endpoints::disabled_reason.eq(reason),
        ))
        .on_conflict(webhook_endpoints::url)
        .do_update()
        .set((
            webhook_endpoints::disabled_at.eq(diesel::dsl::now),
            webhook_endpoints::disabled_reason.eq(reason),
            webhook_endpoints::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Returns whether `url` was disabled.
pub async fn enable_endpoint(conn: &mut AsyncPgConnection, url: &str) -> Result<bool, StoreError> {
    let n = diesel::update(
        webhook_endpoints::table
            .filter(webhook_endpoints::url.eq(url))
            .filter(webhook_endpoints::disabled_at.is_not_null()),
    )
    .set((
        webhook_endpoints::disabled_at.eq(None::<DateTime<Utc>>),
        webhook_endpoints::disabled_reason.eq(None::<String>),
        webhook_endpoints::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await?;
    Ok(n > 0)
}

/// A delivery leased to one dispatcher, with the event it carries.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = SqlUuid)]
    pub event_id: Uuid,
    #[diesel(sql_type = Text)]
    pub url: String,
    /// Names this lease: [`start_attempt`] and [`record`] act only while it is still the one.
    #[diesel(sql_type = SqlUuid)]
    pub lease_id: Uuid,
    /// The number this lease's attempt gets once [`start_attempt`] counts it (attempts made so
    /// far + 1).
    #[diesel(sql_type = Integer)]
    pub attempt: i32,
    /// Where the retry budget's age counts from: creation, or the last admin retry.
    #[diesel(sql_type = Timestamptz)]
    pub budget_from: DateTime<Utc>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub session_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    #[diesel(sql_type = Jsonb)]
    pub payload: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    pub event_created_at: DateTime<Utc>,
}

/// Leases up to `limit` due deliveries to `owner` for `lease`, at most `per_endpoint` in
/// flight to any one URL (counting live leases of every dispatcher on the database).
///
/// Due: `pending` whose time has come, or `delivering` whose lease expired. Skipped: rows
/// another dispatcher is claiming (SKIP LOCKED), disabled endpoints, and any delivery with an
/// earlier (by event id) `pending` or `delivering` delivery of the same session to the same
/// URL, so one session's events reach an endpoint in order while other sessions flow freely.
///
/// Both checks read the open deliveries once, grouped and hashed (`heads`, `leased`): the
/// correlated form was planned per candidate and, without fresh statistics, scanned every
/// open delivery to the URL for each one, so a claim took seconds at a backlog of a few
/// thousand (found by the fault suite's kill storm).
pub async fn claim(
    conn: &mut AsyncPgConnection,
    owner: &str,
    lease: Duration,
    limit: i64,
    per_endpoint: i64,
) -> Result<Vec<Claimed>, StoreError> {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    Ok(diesel::sql_query(
        "WITH heads AS MATERIALIZED (
             SELECT pe.session_id, p.url, min(pe.id) AS first_open
             FROM webhook_deliveries p
             JOIN outbox_events pe ON pe.event_id = p.event_id
             WHERE p.state IN ('pending', 'delivering') AND pe.session_id IS NOT NULL
             GROUP BY pe.session_id, p.url),
         leased AS MATERIALIZED (
             SELECT x.url, count(*) AS n FROM webhook_deliveries x
             WHERE x.state = 'delivering' AND x.lease_until >= now()
             GROUP BY x.url),
         candidates AS (
             SELECT d.id, d.url, d.next_attempt_at
             FROM webhook_deliveries d
             JOIN outbox_events e ON e.event_id = d.event_id
             LEFT JOIN heads h ON h.session_id = e.session_id AND h.url = d.url
             WHERE ((d.state = 'pending' AND d.next_attempt_at <= now())
                    OR (d.state = 'delivering' AND d.lease_until < now()))
               AND NOT EXISTS (
                   SELECT 1 FROM webhook_endpoints ep
                   WHERE ep.url = d.url AND ep.disabled_at IS NOT NULL)
               AND (e.session_id IS NULL OR e.id = h.first_open)
             ORDER BY d.next_attempt_at, d.id
             LIMIT $1 * 4
             FOR UPDATE OF d SKIP LOCKED),
         due AS (
             SELECT r.id FROM (
                 SELECT c.id, c.next_attempt_at,
                        row_number() OVER (PARTITION BY c.url ORDER BY c.next_attempt_at, c.id)
                          + COALESCE(l.n, 0) AS slot
                 FROM candidates c LEFT JOIN leased l ON l.url = c.url) r
             WHERE r.slot <= $4
             ORDER BY r.next_attempt_at, r.id
             LIMIT $1)
         UPDATE webhook_deliveries w
         SET state = 'delivering',
             lease_owner = $2,
             lease_until = now() + $3 * interval '1 millisecond',
             lease_id = gen_random_uuid()
         FROM due, outbox_events e
         WHERE w.id = due.id AND e.event_id = w.event_id
         RETURNING w.id, w.event_id, w.url, w.lease_id, w.attempts + 1 AS attempt,
                   COALESCE(w.retried_at, w.created_at) AS budget_from,
                   e.session_id, e.event_type, e.payload, e.created_at AS event_created_at",
    )
    .bind::<BigInt, _>(limit)
    .bind::<Text, _>(owner)
    .bind::<BigInt, _>(lease_ms)
    .bind::<BigInt, _>(per_endpoint)
    .load(conn)
    .await?)
}

/// Counts `claimed`'s attempt, just before its request is sent, and renews the lease for
/// `lease` from now (so the lease covers the request from its start, however long the claim
/// waited for a free slot). Returns false, counting nothing, when `owner` no longer holds this
/// lease (it expired and was taken over): the request must not be sent.
///
/// A dispatcher killed after this and before [`record`] has spent the attempt with no row for
/// it: the request may have reached the receiver, so it counts.
pub async fn start_attempt(
    conn: &mut AsyncPgConnection,
    claimed: &Claimed,
    owner: &str,
    lease: Duration,
) -> Result<bool, StoreError> {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let n = diesel::sql_query(
        "UPDATE webhook_deliveries
         SET attempts = attempts + 1,
             lease_until = now() + $1 * interval '1 millisecond'
         WHERE id = $2 AND state = 'delivering' AND lease_owner = $3 AND lease_id = $4
           AND attempts = $5 - 1",
    )
    .bind::<BigInt, _>(lease_ms)
    .bind::<BigInt, _>(claimed.id)
    .bind::<Text, _>(owner)
    .bind::<SqlUuid, _>(claimed.lease_id)
    .bind::<Integer, _>(claimed.attempt)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// What an attempt decided for its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Back to `pending`, due after `delay` (by the database clock).
    Retry {
        delay: Duration,
    },
    Dead,
}

/// One POST, as it went.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt<'a> {
    pub started_at: DateTime<Utc>,
    pub latency: Duration,
    pub status: Option<u16>,
    pub error: Option<&'a str>,
    pub response_snippet: Option<&'a str>,
}

/// Records the attempt and, if `owner` still holds the lease of `claimed` and counted its
/// attempt ([`start_attempt`]), applies `outcome`. Returns false when the lease was lost
/// (expired and taken over): the attempt is still on record, but the delivery's state belongs
/// to the new holder.
pub async fn record(
    conn: &mut AsyncPgConnection,
    claimed: &Claimed,
    owner: &str,
    attempt: &Attempt<'_>,
    outcome: Outcome,
) -> Result<bool, StoreError> {
    let latency_ms = i32::try_from(attempt.latency.as_millis()).unwrap_or(i32::MAX);
    let (state, delay_ms) = match outcome {
        Outcome::Delivered => ("delivered", 0),
        Outcome::Retry { delay } => (
            "pending",
            i64::try_from(delay.as_millis()).unwrap_or(i64::MAX),
        ),
        Outcome::Dead => ("dead", 0),
    };
    conn.transaction(async |conn| {
        diesel::insert_into(webhook_attempts::table)
            .values((
                webhook_attempts::delivery_id.eq(claimed.id),
                webhook_attempts::attempt.eq(claimed.attempt),
                webhook_attempts::lease_owner.eq(owner),
                webhook_attempts::started_at.eq(attempt.started_at),
                webhook_attempts::latency_ms.eq(latency_ms),
                webhook_attempts::status.eq(attempt.status.map(i32::from)),
                webhook_attempts::error.eq(attempt.error),
                webhook_attempts::response_snippet.eq(attempt.response_snippet),
            ))
            .execute(conn)
            .await?;
        let n = diesel::sql_query(
            "UPDATE webhook_deliveries
             SET state = $1::webhook_delivery_state,
                 next_attempt_at = CASE WHEN $1 = 'pending'
                     THEN now() + $2 * interval '1 millisecond' ELSE next_attempt_at END,
                 delivered_at = CASE WHEN $1 = 'delivered' THEN now() END,
                 lease_owner = NULL,
                 lease_until = NULL,
                 last_status = $3,
                 last_error = $4
             WHERE id = $5 AND state = 'delivering' AND lease_owner = $6 AND lease_id = $7
               AND attempts = $8",
        )
        .bind::<Text, _>(state)
        .bind::<BigInt, _>(delay_ms)
        .bind::<Nullable<Integer>, _>(attempt.status.map(i32::from))
        .bind::<Nullable<Text>, _>(attempt.error)
        .bind::<BigInt, _>(claimed.id)
        .bind::<Text, _>(owner)
        .bind::<SqlUuid, _>(claimed.lease_id)
        .bind::<Integer, _>(claimed.attempt)
        .execute(conn)
        .await?;
        Ok(n == 1)
    })
    .await
}

/// A recorded attempt.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = webhook_attempts, check_for_backend(diesel::pg::Pg))]
pub struct AttemptRow {
    pub id: i64,
    pub delivery_id: i64,
    pub attempt: i32,
    pub lease_owner: String,
    pub started_at: DateTime<Utc>,
    pub latency_ms: i32,
    pub status: Option<i32>,
    pub error: Option<String>,
    pub response_snippet: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn attempts(
    conn: &mut AsyncPgConnection,
    delivery_id: i64,
) -> Result<Vec<AttemptRow>, StoreError> {
    Ok(webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq(delivery_id))
        .order(webhook_attempts::id.asc())
        .select(AttemptRow::as_select())
        .load(conn)
        .await?)
}

/// The deliveries of one event.
pub async fn for_event(
    conn: &mut AsyncPgConnection,
    event_id: Uuid,
) -> Result<Vec<crate::models::WebhookDeliveryRow>, StoreError> {
    use crate::schema::webhook_deliveries;
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::event_id.eq(event_id))
        .order(webhook_deliveries::id.asc())
        .select(crate::models::WebhookDeliveryRow::as_select())
        .load(conn)
        .await?)
}
