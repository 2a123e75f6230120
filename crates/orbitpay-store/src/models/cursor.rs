use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::stream_cursors;

/// Where an account's payment stream resumes.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = stream_cursors, primary_key(account))]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct StreamCursorRow {
    pub account: String,
    /// Horizon paging token of the last fully processed operation.
    pub paging_token: i64,
    pub updated_at: DateTime<Utc>,
    /// The token the row was created with: where the account's stream began. `None` for rows
    /// older than the column (unknown).
    pub first_token: Option<i64>,
}
