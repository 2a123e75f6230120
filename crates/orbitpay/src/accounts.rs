//! The daemon's side of watched accounts as data: the config's `accounts` list applied to the
//! `watched_accounts` table at start, and the ledger position the admin API resolves
//! `start_cursor: now` with.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use orbitpay_core::AccountId;
use orbitpay_horizon::LedgerSource;
use orbitpay_store::DbPool;
use orbitpay_store::accounts::{AddedBy, NewAccount};
use tokio_util::sync::CancellationToken;

use crate::admin::LedgerPosition;
use crate::config::StartCursor;

/// Bound on asking the ledger for "now" while applying the config at start: a Horizon that
/// does not answer must not hold the start (the follower resolves "now" itself then).
const ROOT_TIMEOUT: Duration = Duration::from_secs(5);

/// Applies the config's accounts as an upsert (never removing or changing a row: see the
/// store's `apply_config`) and returns every watched account with where it starts.
pub async fn apply_config(
    pool: &DbPool,
    configured: &[(AccountId, StartCursor)],
    source: Option<&dyn LedgerSource>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Vec<(AccountId, StartCursor)>> {
    let mut now = None;
    if configured.iter().any(|(_, s)| *s == StartCursor::Now)
        && let Some(source) = source
    {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            root = tokio::time::timeout(ROOT_TIMEOUT, source.root()) => match root {
                Ok(Ok(root)) => now = Some(orbitpay_horizon::now_token(root.latest_ledger)),
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the ledger's position; new config accounts starting at `now` resolve it when first followed"),
                Err(_) => tracing::warn!("the ledger's position did not arrive in time; new config accounts starting at `now` resolve it when first followed"),
            }
        }
    }
    let new: Vec<NewAccount> = configured
        .iter()
        .map(|(address, start)| NewAccount {
            address: *address,
            label: String::new(),
            start_cursor: match start {
                StartCursor::Now => "now".to_owned(),
                StartCursor::Token(t) => t.to_string(),
            },
            start_token: match start {
                StartCursor::Now => now,
                StartCursor::Token(t) => Some(*t),
            },
            added_by: AddedBy::Config,
        })
        .collect();
    let mut conn = pool.get().await.context("applying the config's accounts")?;
    let added = orbitpay_store::accounts::apply_config(&mut conn, &new)
        .await
        .context("applying the config's accounts")?;
    if added > 0 {
        tracing::info!(added, "config accounts added to the watched accounts");
    }
    watched(&mut conn).await
}

/// Every watched account with where it starts (its stored start; `now` when unresolved).
pub async fn watched(
    conn: &mut orbitpay_store::AsyncPgConnection,
) -> anyhow::Result<Vec<(AccountId, StartCursor)>> {
    orbitpay_store::accounts::all(conn)
        .await
        .context("reading the watched accounts")?
        .into_iter()
        .map(|row| {
            let account: AccountId = row
                .address
                .parse()
                .with_context(|| format!("watched_accounts.address {:?}", row.address))?;
            let start = row.start_token.map_or(StartCursor::Now, StartCursor::Token);
            Ok((account, start))
        })
        .collect()
}

/// The ledger source as the admin API's [`LedgerPosition`].
pub struct SourcePosition(pub Arc<dyn LedgerSource>);

#[async_trait::async_trait]
impl LedgerPosition for SourcePosition {
    async fn now_token(&self) -> Result<i64, String> {
        match tokio::time::timeout(ROOT_TIMEOUT, self.0.root()).await {
            Ok(Ok(root)) => Ok(orbitpay_horizon::now_token(root.latest_ledger)),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {}s", ROOT_TIMEOUT.as_secs())),
        }
    }
}
