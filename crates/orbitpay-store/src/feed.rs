//! Feeds a poller pages through with the last row id it saw (`GET /v1/events`,
//! `GET /v1/payments/unmatched`), in commit order, so it never skips a row.
//!
//! A row's id is taken at insert, mid-transaction, and transactions commit out of order: a
//! reader paging by `id > after` alone could pass a lower id that commits later. So each feed
//! table records its writing transaction (`xact_id xid8 DEFAULT pg_current_xact_id()`), and a
//! page serves, in `(xact_id, id)` order, only rows whose transaction is below
//! `orbitpay_feed_bound()` (the database function, in the migration that made it: the oldest
//! transaction of this database still running, or the snapshot's xmax). Any row that becomes
//! visible later sorts after everything served.

use diesel::QueryableByName;
use diesel::pg::Pg;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::StoreError;

/// Where a feed reader is: after the row `after` (its row id; 0 is the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedError {
    /// `after` names no row (pruned, or never one).
    UnknownCursor(i64),
}

/// A table a feed pages through: its name and the columns a page selects.
pub(crate) struct Feed {
    pub table: &'static str,
    pub columns: &'static str,
}

impl Feed {
    /// At most `limit` rows after the row with id `after` (0: from the start), in commit order.
    pub(crate) async fn page<R>(
        &self,
        conn: &mut AsyncPgConnection,
        after: i64,
        limit: i64,
    ) -> Result<Result<Vec<R>, FeedError>, StoreError>
    where
        R: QueryableByName<Pg> + Send + 'static,
    {
        #[derive(QueryableByName)]
        struct Known {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let Feed { table, columns } = self;
        if after > 0 {
            let known: Known =
                diesel::sql_query(format!("SELECT count(*) AS n FROM {table} WHERE id = $1"))
                    .bind::<BigInt, _>(after)
                    .get_result(conn)
                    .await?;
            if known.n == 0 {
                return Ok(Err(FeedError::UnknownCursor(after)));
            }
        }
        Ok(Ok(diesel::sql_query(format!(
            "SELECT {columns} FROM {table} t
             WHERE t.xact_id < (SELECT orbitpay_feed_bound())
               AND ($1 = 0 OR (t.xact_id, t.id) > (SELECT a.xact_id, a.id FROM {table} a
                                                   WHERE a.id = $1))
             ORDER BY t.xact_id, t.id
             LIMIT $2"
        ))
        .bind::<BigInt, _>(after)
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await?))
    }
}
