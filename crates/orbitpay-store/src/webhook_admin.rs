//! What an operator does to the delivery queue: list and inspect deliveries, retry a dead one,
//! redeliver an event. The dispatcher's own path is [`crate::deliveries`].

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::StoreError;
use crate::models::{DeliveryState, WebhookDeliveryRow};
use crate::schema::{outbox_events, webhook_deliveries};

/// Deliveries in `state` (all when `None`) with `id > after`, oldest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    state: Option<DeliveryState>,
    after: i64,
    limit: i64,
) -> Result<Vec<WebhookDeliveryRow>, StoreError> {
    let mut q = webhook_deliveries::table
        .filter(webhook_deliveries::id.gt(after))
        .into_boxed();
    if let Some(state) = state {
        q = q.filter(webhook_deliveries::state.eq(state));
    }
    Ok(q.order(webhook_deliveries::id.asc())
        .limit(limit)
        .select(WebhookDeliveryRow::as_select())
        .load(conn)
        .await?)
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> Result<Option<WebhookDeliveryRow>, StoreError> {
    Ok(webhook_deliveries::table
        .find(id)
        .select(WebhookDeliveryRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// What an admin retry found.
#[derive(Debug, Clone, PartialEq)]
pub enum Retried {
    /// Back to `pending` now, with a fresh retry budget.
    Queued(WebhookDeliveryRow),
    /// Only a `dead` delivery is retried; this one is in another state.
    NotDead(DeliveryState),
    NotFound,
}

/// `dead` -> `pending`, due now, with a fresh budget (attempts and age count from now).
pub async fn retry(conn: &mut AsyncPgConnection, id: i64) -> Result<Retried, StoreError> {
    conn.transaction(async |conn| {
        let Some(row) = webhook_deliveries::table
            .find(id)
            .for_update()
            .select(WebhookDeliveryRow::as_select())
            .first(conn)
            .await
            .optional()?
        else {
            return Ok(Retried::NotFound);
        };
        if row.state != DeliveryState::Dead {
            return Ok(Retried::NotDead(row.state));
        }
        let mut rows = requeue(conn, &[id]).await?;
        crate::deliveries::notify(conn).await?;
        Ok(rows.pop().map_or(Retried::NotFound, Retried::Queued))
    })
    .await
}

/// Sends `event_id` again: to the endpoint it would go to now if it has no delivery yet, and
/// every delivered or dead delivery of it back to `pending` (pending or in-flight ones are left
/// alone). Returns the event's deliveries, or `None` when there is no such event. The
/// `webhook-id` stays the event id, so a receiver that already has it can tell.
pub async fn redeliver_event(
    conn: &mut AsyncPgConnection,
    event_id: Uuid,
) -> Result<Option<Vec<WebhookDeliveryRow>>, StoreError> {
    conn.transaction(async |conn| {
        let exists: i64 = outbox_events::table
            .filter(outbox_events::event_id.eq(event_id))
            .count()
            .get_result(conn)
            .await?;
        if exists == 0 {
            return Ok(None);
        }
        crate::deliveries::fan_out(conn, &[event_id]).await?;
        let finished: Vec<i64> = webhook_deliveries::table
            .filter(webhook_deliveries::event_id.eq(event_id))
            .filter(
                webhook_deliveries::state.eq_any([DeliveryState::Delivered, DeliveryState::Dead]),
            )
            .select(webhook_deliveries::id)
            .for_update()
            .load(conn)
            .await?;
        requeue(conn, &finished).await?;
        crate::deliveries::notify(conn).await?;
        Ok(Some(crate::deliveries::for_event(conn, event_id).await?))
    })
    .await
}

/// The one way an admin puts deliveries back in the queue.
async fn requeue(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
) -> Result<Vec<WebhookDeliveryRow>, StoreError> {
    use diesel::dsl::now;
    Ok(diesel::update(webhook_deliveries::table)
        .filter(webhook_deliveries::id.eq_any(ids))
        .set((
            webhook_deliveries::state.eq(DeliveryState::Pending),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::next_attempt_at.eq(now),
            webhook_deliveries::retried_at.eq(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
            >("now()")),
            webhook_deliveries::delivered_at.eq(None::<DateTime<Utc>>),
            webhook_deliveries::lease_owner.eq(None::<String>),
            webhook_deliveries::lease_until.eq(None::<DateTime<Utc>>),
        ))
        .returning(WebhookDeliveryRow::as_returning())
        .get_results(conn)
        .await?)
}

/// Deliveries by state, for metrics and status.
pub async fn counts(conn: &mut AsyncPgConnection) -> Result<Vec<(DeliveryState, i64)>, StoreError> {
    use diesel::dsl::count_star;
    Ok(webhook_deliveries::table
        .group_by(webhook_deliveries::state)
        .select((webhook_deliveries::state, count_star()))
        .load(conn)
        .await?)
}

/// A webhook endpoint as the dispatcher knows it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = crate::schema::webhook_endpoints, check_for_backend(diesel::pg::Pg))]
pub struct EndpointRow {
    pub url: String,
    pub is_default: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// Every endpoint, the default first (a handful: the configured one and sessions' own).
pub async fn endpoints(conn: &mut AsyncPgConnection) -> Result<Vec<EndpointRow>, StoreError> {
    use crate::schema::webhook_endpoints;
    Ok(webhook_endpoints::table
        .order((
            webhook_endpoints::is_default.desc(),
            webhook_endpoints::url.asc(),
        ))
        .limit(200)
        .select(EndpointRow::as_select())
        .load(conn)
        .await?)
}

/// Deliveries waiting for another attempt after a failed one (`pending` with attempts made),
/// oldest first, `id > after` (the partial index `webhook_deliveries_retrying_idx`).
pub async fn retrying(
    conn: &mut AsyncPgConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<WebhookDeliveryRow>, StoreError> {
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::state.eq(DeliveryState::Pending))
        .filter(webhook_deliveries::attempts.gt(0))
        .filter(webhook_deliveries::id.gt(after))
        .order(webhook_deliveries::id.asc())
        .limit(limit)
        .select(WebhookDeliveryRow::as_select())
        .load(conn)
        .await?)
}

/// An attempt with the URL it went to.
pub type AttemptWithUrl = (crate::deliveries::AttemptRow, String);

/// The most recent attempts, newest first, with id below `before`.
pub async fn recent_attempts(
    conn: &mut AsyncPgConnection,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AttemptWithUrl>, StoreError> {
    use crate::deliveries::AttemptRow;
    use crate::schema::webhook_attempts;
    let mut query = webhook_attempts::table
        .inner_join(webhook_deliveries::table)
        .order(webhook_attempts::id.desc())
        .limit(limit)
        .select((AttemptRow::as_select(), webhook_deliveries::url))
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(webhook_attempts::id.lt(before));
    }
    Ok(query.load(conn).await?)
}
