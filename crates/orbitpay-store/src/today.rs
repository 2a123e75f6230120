//! Today's figures for the operator page's overview: sessions created today by status and the
//! money credited today per asset. "Today" is the UTC day of the database's `now()`, so every
//! instance and the page agree whatever the hosts' clocks and time zones say.

use std::collections::BTreeMap;

use diesel::dsl::{count_star, sql};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Numeric, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use orbitpay_core::SessionStatus;

use crate::StoreError;
use crate::numeric::I128Numeric;
use crate::schema::{payments, sessions};

/// The start of the database's current UTC day.
const TODAY: &str = "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'";

/// Sessions created today, by status; every status present, zero when none.
pub async fn session_counts(
    conn: &mut AsyncPgConnection,
) -> Result<BTreeMap<SessionStatus, i64>, StoreError> {
    let rows: Vec<(SessionStatus, i64)> = sessions::table
        .filter(sessions::created_at.ge(sql::<Timestamptz>(TODAY)))
        .group_by(sessions::status)
        .select((sessions::status, count_star()))
        .load(conn)
        .await?;
    let mut counts: BTreeMap<SessionStatus, i64> =
        SessionStatus::ALL.into_iter().map(|s| (s, 0)).collect();
    counts.extend(rows);
    Ok(counts)
}

/// Stroops credited to sessions today (payments recorded since the day began), per asset as
/// stored (`native` or `CODE:ISSUER`), in asset order. A sum is i128: many i64 payments of
/// one asset may add up past i64.
pub async fn credited(conn: &mut AsyncPgConnection) -> Result<Vec<(String, i128)>, StoreError> {
    let rows: Vec<(String, Option<I128Numeric>)> = payments::table
        .filter(payments::created_at.ge(sql::<Timestamptz>(TODAY)))
        .group_by(payments::asset)
        .select((payments::asset, sql::<Nullable<Numeric>>("sum(amount)")))
        .order(payments::asset.asc())
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(a, s)| (a, s.map_or(0, |s| s.0)))
        .collect())
}
