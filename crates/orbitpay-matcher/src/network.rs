//! The network follower's consumer (network mode): a routed batch, every watched account's
//! records in it, settled as each account's own stream's batch would be (the same claim, the
//! same settle, the same per-account idempotency), in one transaction with the network cursor.
//!
//! Each account's own cursor moves with the network's in that transaction, except for the
//! accounts still being caught up on their own ([`Handover`]): so per-account mode, after a
//! switch back, resumes every account from a true cursor, and a restart in network mode knows
//! which accounts need a catch-up of their own (those whose cursor is below the network's).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use orbitpay_core::{AccountId, LedgerRecord};
use orbitpay_horizon::{NetworkSink, RoutedBatch, SinkError};
use orbitpay_store::cursors;
use orbitpay_store::settlement::{self, NetworkCursor};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::settle::Prepared;
use crate::{MatchError, Matcher, log_unreadable, unreadable_row, with_retry};

/// The accounts being caught up on their own (added with a start older than the network
/// cursor): the network settles what it routes to them, but their cursor is their catch-up's
/// until it is done.
pub type Handover = Arc<RwLock<HashSet<AccountId>>>;

/// The network follower's [`NetworkSink`]: a thin adapter onto the matcher's settle.
pub struct RoutedSink {
    matcher: Arc<Matcher>,
    stop: CancellationToken,
    handover: Handover,
}

impl Matcher {
    /// The network follower's consumer; its database retries end when `stop` fires.
    pub fn routed_sink(
        self: &Arc<Self>,
        handover: Handover,
        stop: CancellationToken,
    ) -> RoutedSink {
        RoutedSink {
            matcher: self.clone(),
            stop,
            handover,
        }
    }
}

#[async_trait]
impl NetworkSink for RoutedSink {
    async fn initialise_cursor(&mut self, token: i64) -> Result<(), SinkError> {
        let retry = self.matcher.until(&self.stop);
        with_retry!(self.matcher, retry, |conn| cursors::set_network(
            conn, token
        ))
        .map(|_| ())
        .map_err(SinkError::from)
    }

    async fn handle_routed(&mut self, batch: &RoutedBatch) -> Result<(), SinkError> {
        debug!(accounts = batch.accounts.len(), up_to = batch.up_to, phase = ?batch.phase,
               "settling a network batch");
        self.handle(batch).await.map_err(SinkError::from)
    }
}

impl RoutedSink {
    async fn handle(&self, batch: &RoutedBatch) -> Result<(), MatchError> {
        let retry = self.matcher.until(&self.stop);
        let mut unreadable = Vec::new();
        let mut accounts: Vec<(AccountId, Prepared<'_>)> = Vec::new();
        for (account, records) in &batch.accounts {
            let mut readable: Vec<&LedgerRecord> = Vec::with_capacity(records.len());
            for r in records {
                match r {
                    Ok(record) => readable.push(record),
                    Err(e) => {
                        unreadable.push((e, unreadable_row(account.to_string(), e, token(e)?)))
                    }
                }
            }
            if !readable.is_empty() {
                accounts.push((*account, Prepared::new(account, readable)));
            }
        }
        if let Some(e) = &batch.unattributed {
            unreadable.push((e, unreadable_row(cursors::NETWORK.to_owned(), e, token(e)?)));
        }
        let covered: Vec<String> = {
            let handover = self.handover.read().unwrap_or_else(|e| e.into_inner());
            batch
                .watched
                .iter()
                .filter(|a| !handover.contains(a))
                .map(AccountId::to_string)
                .collect()
        };
        let rows: Vec<_> = unreadable.iter().map(|(_, row)| row.clone()).collect();
        let cursor = NetworkCursor {
            up_to: batch.up_to,
            unreadable: &rows,
            accounts: &covered,
        };
        self.matcher.settle_routed(&accounts, cursor, retry).await?;
        for (e, row) in &unreadable {
            log_unreadable(&row.account, e, row.paging_token);
        }
        Ok(())
    }
}

/// An unreadable record's token; the follower never hands one over without it.
fn token(e: &orbitpay_horizon::RecordError) -> Result<i64, MatchError> {
    e.paging_token.ok_or_else(|| {
        MatchError::Fatal(orbitpay_store::StoreError::Corrupt(format!(
            "an unreadable record without a paging token reached the matcher: {}",
            e.reason
        )))
    })
}

impl Matcher {
    /// Claims, then settles, a routed batch's accounts (see `settle.rs`).
    async fn settle_routed(
        &self,
        accounts: &[(AccountId, Prepared<'_>)],
        cursor: NetworkCursor<'_>,
        retry: orbitpay_store::retry::Retry<'_>,
    ) -> Result<(), MatchError> {
        let items: Vec<settlement::AccountItems<'_>> =
            accounts.iter().map(|(a, p)| (*a, p.items())).collect();
        let claimed = with_retry!(self, retry, |conn| settlement::claim_network(conn, &items))?;
        if let Err(e) = self.settle_network(accounts, &items, cursor, retry).await {
            if matches!(e, MatchError::Fatal(_)) {
                for ((account, _), claimed) in accounts.iter().zip(&claimed) {
                    self.release_claims(account, &claimed.claimed, retry).await;
                }
            }
            return Err(e);
        }
        Ok(())
    }
}
