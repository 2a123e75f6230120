//! Keyset pagination: a page size and the cursor a page hands back. Lists never page by offset.

use axum::http::{StatusCode, Uri};
use orbitpay_store::feed::FeedError;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, code};
use super::input::query;

const DEFAULT_LIMIT: i64 = 50;

const MAX_LIMIT: i64 = 500;

/// A list request's page size: its `limit` when that is 1-500, 50 when it gives none.
pub(crate) fn page_limit(requested: Option<i64>) -> Result<i64, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            code::INVALID_REQUEST,
            format!("limit {n} must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// A feed's `after`: a previous page's `next_after`, 0 (the start) when it gives none.
pub(crate) fn feed_after(requested: Option<i64>) -> Result<i64, ApiError> {
    match requested {
        None => Ok(0),
        Some(n) if n >= 0 => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            code::INVALID_REQUEST,
            format!("after {n} must be 0 or more"),
        )),
    }
}

/// The cursor a page hands back: a full page may have more rows after its last one, a
/// shorter page is the end.
pub(crate) fn next_after<T, K>(rows: &[T], limit: i64, key: impl FnOnce(&T) -> K) -> Option<K> {
    (rows.len() as i64 == limit)
        .then(|| rows.last().map(key))
        .flatten()
}

/// A feed's answer to an `after` that names no row of it (`what`: "event"): 410, restart.
fn unknown_cursor(what: &str, FeedError::UnknownCursor(after): FeedError) -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        code::UNKNOWN_CURSOR,
        format!("no {what} {after} in the feed (pruned, or never one): restart from after=0"),
    )
}

/// A feed request's checked `limit` and `after`, from its query string.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FeedQuery {
    pub limit: i64,
    pub after: i64,
}

impl FeedQuery {
    pub(crate) fn parse(uri: &Uri) -> Result<FeedQuery, ApiError> {
        let params: FeedParams = query(uri)?;
        let limit = page_limit(params.limit)?;
        let after = feed_after(params.after)?;
        Ok(FeedQuery { limit, after })
    }

    /// One page of a feed (`what`: "event"): the rows the store read after `after` as views,
    /// and the `next_after` that continues from the last one (its feed position).
    pub(crate) fn page<R, V>(
        &self,
        what: &str,
        rows: Result<Vec<R>, FeedError>,
        position: impl FnOnce(&R) -> i64,
    ) -> Result<(Vec<V>, Option<i64>), ApiError>
    where
        V: for<'r> From<&'r R>,
    {
        let rows = rows.map_err(|e| unknown_cursor(what, e))?;
        let next_after = next_after(&rows, self.limit, position);
        Ok((rows.iter().map(V::from).collect(), next_after))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// The `next_after` of the previous page (default 0: from the start).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_limits_and_cursors() {
        assert_eq!(page_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(page_limit(Some(1)).unwrap(), 1);
        assert_eq!(page_limit(Some(MAX_LIMIT)).unwrap(), MAX_LIMIT);
        for n in [0, -1, MAX_LIMIT + 1] {
            assert_eq!(
                page_limit(Some(n)).unwrap_err().code,
                code::INVALID_REQUEST,
                "{n}"
            );
        }
        assert_eq!(next_after(&[7, 8], 2, |r| *r), Some(8));
        assert_eq!(next_after(&[7], 2, |r| *r), None);
        assert_eq!(next_after(&[] as &[i64], 2, |r| *r), None);
    }
}
