use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::watched_accounts;

/// A watched account (see `migrations/*_watched_accounts`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = watched_accounts, primary_key(address))]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct WatchedAccountRow {
    pub address: String,
    pub label: String,
    /// As the client gave it: `now` or a paging token.
    pub start_cursor: String,
    /// The start resolved when it was added (`None`: its follower resolves `now`).
    pub start_token: Option<i64>,
    /// `config` or `api`.
    pub added_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
