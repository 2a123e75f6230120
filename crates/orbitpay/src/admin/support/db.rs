//! A pooled connection for a handler, its failure as the API's error.

use orbitpay_store::PooledConnection;

use super::error::ApiError;
use crate::admin::state::AdminState;

/// A connection from the pool; a pool that cannot give one answers 503 DATABASE_UNAVAILABLE.
pub(crate) async fn conn(state: &AdminState) -> Result<PooledConnection, ApiError> {
    state
        .pool
        .get()
        .await
        .map_err(|e| ApiError::from(orbitpay_store::StoreError::from(e)))
}
