//! Read-only aggregates (for `/v1/status` and the Prometheus gauges) and the liveness ping.
//! One grouped scan each; every key is present, zero when empty, so a status that empties does
//! not keep reporting its last count.

use std::collections::BTreeMap;

use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use orbitpay_core::{SessionStatus, UnmatchedReason};

use crate::StoreError;
use crate::models::{ClaimSource, PgSessionStatus};
use crate::schema::{sessions, unmatched_payments};

pub async fn session_counts(
    conn: &mut AsyncPgConnection,
) -> Result<BTreeMap<SessionStatus, i64>, StoreError> {
    let rows: Vec<(SessionStatus, i64)> = sessions::table
        .group_by(sessions::status)
        .select((sessions::status, count_star()))
        .load(conn)
        .await?;
    let mut counts: BTreeMap<SessionStatus, i64> =
        SessionStatus::ALL.into_iter().map(|s| (s, 0)).collect();
    counts.extend(rows);
    Ok(counts)
}

pub async fn unmatched_counts(
    conn: &mut AsyncPgConnection,
) -> Result<BTreeMap<&'static str, i64>, StoreError> {
    let rows: Vec<(UnmatchedReason, i64)> = unmatched_payments::table
        .group_by(unmatched_payments::reason)
        .select((unmatched_payments::reason, count_star()))
        .load(conn)
        .await?;
    let mut counts: BTreeMap<&'static str, i64> = UnmatchedReason::ALL
        .into_iter()
        .map(|r| (r.as_str(), 0))
        .collect();
    counts.extend(rows.into_iter().map(|(r, n)| (r.as_str(), n)));
    Ok(counts)
}

/// Open claims (`processing` sessions) by where they came from: a pile of client reports is a
/// wallet reporting hashes that do not land; stream claims only live between two commits.
pub async fn claim_counts(
    conn: &mut AsyncPgConnection,
) -> Result<BTreeMap<ClaimSource, i64>, StoreError> {
    let rows: Vec<(Option<String>, i64)> = sessions::table
        .filter(sessions::status.eq(PgSessionStatus(SessionStatus::Processing)))
        .group_by(sessions::claim_source)
        .select((sessions::claim_source, count_star()))
        .load(conn)
        .await?;
    let mut counts: BTreeMap<ClaimSource, i64> =
        ClaimSource::ALL.into_iter().map(|s| (s, 0)).collect();
    for (source, n) in rows {
        let source = source
            .as_deref()
            .unwrap_or("")
            .parse()
            .map_err(StoreError::Corrupt)?;
        counts.insert(source, n);
    }
    Ok(counts)
}

/// A round trip to the server: `SELECT 1`.
pub async fn ping(conn: &mut AsyncPgConnection) -> Result<(), StoreError> {
    Ok(conn.batch_execute("SELECT 1").await?)
}
