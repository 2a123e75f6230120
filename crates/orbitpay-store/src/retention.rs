//! Retention of the outbox: delivered events, with their deliveries and attempts, are deleted
//! once older than the configured age (by the database's clock). An event with any delivery
//! not delivered (pending, in flight, dead) is never deleted: it is still owed, or waits for
//! an operator. Sessions, payments and unmatched payments are never deleted by anything here.

use std::time::Duration;

use diesel::sql_types::{Array, BigInt, Interval, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{StoreError, interval};

/// What one batch deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub events: usize,
    pub deliveries: usize,
    pub attempts: usize,
}

#[derive(diesel::QueryableByName)]
struct Doomed {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = SqlUuid)]
    event_id: Uuid,
}

/// Deletes at most `batch` delivered events created more than `older_than` ago, with their
/// deliveries and attempts, in one transaction. Rows another transaction holds are skipped, so
/// two instances pruning at once split the work. Call again until it deletes fewer than
/// `batch` events.
pub async fn prune_delivered_events(
    conn: &mut AsyncPgConnection,
    older_than: Duration,
    batch: i64,
) -> Result<Pruned, StoreError> {
    conn.transaction(async |conn| {
        let doomed: Vec<Doomed> = diesel::sql_query(
            "SELECT e.id, e.event_id FROM outbox_events e \
             WHERE e.created_at < now() - $1 \
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d \
                               WHERE d.event_id = e.event_id AND d.state <> 'delivered') \
             ORDER BY e.id LIMIT $2 FOR UPDATE OF e SKIP LOCKED",
        )
        .bind::<Interval, _>(interval(older_than))
        .bind::<BigInt, _>(batch.max(1))
        .load(conn)
        .await?;
        if doomed.is_empty() {
            return Ok(Pruned::default());
        }
        let ids: Vec<i64> = doomed.iter().map(|d| d.id).collect();
        let event_ids: Vec<Uuid> = doomed.iter().map(|d| d.event_id).collect();
        // Only delivered deliveries go: one that turned undelivered meanwhile (a replay) stays,
        // and keeps its event below.
        let attempts = diesel::sql_query(
            "DELETE FROM webhook_attempts a USING webhook_deliveries d \
             WHERE a.delivery_id = d.id AND d.event_id = ANY($1) AND d.state = 'delivered'",
        )
        .bind::<Array<SqlUuid>, _>(&event_ids)
        .execute(conn)
        .await?;
        let deliveries = diesel::sql_query(
            "DELETE FROM webhook_deliveries WHERE event_id = ANY($1) AND state = 'delivered'",
        )
        .bind::<Array<SqlUuid>, _>(&event_ids)
        .execute(conn)
        .await?;
        let events = diesel::sql_query(
            "DELETE FROM outbox_events e WHERE e.id = ANY($1) \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.event_id)",
        )
        .bind::<Array<BigInt>, _>(&ids)
        .execute(conn)
        .await?;
        Ok(Pruned {
            events,
            deliveries,
            attempts,
        })
    })
    .await
}
