use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::unreadable_records;

/// A ledger record that stayed unreadable on every read, kept until it is reconciled.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = unreadable_records, primary_key(account, paging_token))]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct UnreadableRecordRow {
    pub account: String,
    /// The paging token, i.e. the operation id on the payments endpoint.
    pub paging_token: i64,
    /// The record as received, at most 64 KiB.
    pub raw: Vec<u8>,
    pub raw_truncated: bool,
    pub parse_error: String,
    pub attempts: i32,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = unreadable_records, check_for_backend(diesel::pg::Pg))]
pub struct NewUnreadableRecord {
    pub account: String,
    pub paging_token: i64,
    pub raw: Vec<u8>,
    pub raw_truncated: bool,
    pub parse_error: String,
    pub attempts: i32,
}
