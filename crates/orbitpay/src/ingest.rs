//! Ingestion while this instance leads: the ledger source's follower feeding the matcher. Per
//! account, one follower per led account (this file); in network mode, one follower of the
//! network's payments routed to every watched account, plus the catch-ups of accounts behind
//! it (`ingest/network.rs`). The follower owns the reading (catch-up, stream, reconnects,
//! retention); the matcher owns what each record means and commits it with the cursor. This
//! module only wires them and reports progress (liveness heartbeat, catch-up meter, lag) to
//! the rest of the daemon.

mod network;

use std::sync::Arc;

use async_trait::async_trait;
use orbitpay_core::{AccountId, toid};
use orbitpay_horizon::{
    AccountTarget, Batch, FollowConfig, Follower, FollowerExit, LedgerSource, Phase, RecordSink,
    SinkError,
};
use orbitpay_matcher::{AccountSink, Matcher};
use orbitpay_store::DbPool;
use tokio_util::sync::CancellationToken;

use crate::config::StartCursor;
use crate::leader::AccountIngest;
use crate::liveness::{Heartbeat, Liveness};
use crate::status::{CatchUpMeter, StatusBoard};

pub use network::{Accounts, NetworkIngest};

pub struct LedgerIngest {
    pub source: Arc<dyn LedgerSource>,
    pub matcher: Arc<Matcher>,
    pub follow: FollowConfig,
    pub pool: DbPool,
    pub liveness: Liveness,
    pub board: Arc<StatusBoard>,
}

#[async_trait]
impl AccountIngest for LedgerIngest {
    async fn run(
        &self,
        account: AccountId,
        start: StartCursor,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let stored = {
            let mut conn = self.pool.get().await?;
            match (
                orbitpay_store::cursors::get(&mut conn, &account).await?,
                start,
            ) {
                (Some(cursor), _) => Some(cursor),
                // A configured starting token is written at once, so a restart never skips.
                (None, StartCursor::Token(token)) => {
                    Some(orbitpay_store::cursors::set(&conn, &account, token).await?)
                }
                // The follower resolves "now" and hands it to the sink to store first thing.
                (None, StartCursor::Now) => None,
            }
        };
        let follower = self.follower(account, stored, &shutdown);
        self.board.attach_follower(account, follower.status());
        match follower.run(shutdown).await {
            FollowerExit::Cancelled | FollowerExit::CaughtUp => Ok(()),
            FollowerExit::Halted(reason) => {
                tracing::error!(account = %account, ?reason, "ingestion of the account halted; an operator must act");
                Ok(())
            }
        }
    }
}

impl LedgerIngest {
    /// The account's follower from `stored`, into the matcher with the daemon's bookkeeping;
    /// its database retries end when `stop` fires, not only the matcher's.
    pub(crate) fn follower(
        &self,
        account: AccountId,
        stored: Option<i64>,
        stop: &CancellationToken,
    ) -> Follower<AccountTarget<ObservedSink>> {
        let heartbeat = self.liveness.register(format!("ingest {account}"));
        heartbeat.idle();
        let sink = ObservedSink {
            inner: self.matcher.sink_until(account, stop.clone()),
            heartbeat,
            meter: CatchUpMeter::new(self.board.clone(), account),
            board: self.board.clone(),
            source: self.source.clone(),
            latest_ledger: 0,
            live: false,
        };
        Follower::new(
            account,
            self.source.clone(),
            sink,
            self.follow.clone(),
            stored,
        )
    }
}

/// The matcher's sink plus the daemon's bookkeeping around each batch.
pub(crate) struct ObservedSink {
    inner: AccountSink,
    heartbeat: Heartbeat,
    meter: CatchUpMeter,
    board: Arc<StatusBoard>,
    source: Arc<dyn LedgerSource>,
    latest_ledger: u32,
    live: bool,
}

impl ObservedSink {
    async fn after(&mut self, account: &AccountId, batch: &Batch) {
        let ledger = toid::ledger(batch.up_to);
        match batch.phase {
            Phase::CatchUp => {
                if ledger >= self.latest_ledger {
                    // Refreshed only when overtaken: one root call per catch-up, give or take.
                    if let Ok(root) = self.source.root().await {
                        self.latest_ledger = root.latest_ledger;
                    }
                }
                let latest = self.latest_ledger.max(ledger);
                self.meter
                    .observe(batch.records.len() as u64, ledger, latest);
            }
            Phase::Live if !self.live => {
                self.live = true;
                self.meter.finish();
            }
            Phase::Live => {}
        }
        let closed_at = batch
            .records
            .iter()
            .rev()
            .find_map(|r| r.as_ref().ok().and_then(|r| r.closed_at));
        if let Some(closed_at) = closed_at {
            let lag = (chrono::Utc::now().timestamp() - closed_at).max(0) as f64;
            self.board.set_lag(*account, Some(lag));
        }
    }
}

#[async_trait]
impl RecordSink for ObservedSink {
    async fn initialise_cursor(
        &mut self,
        account: &AccountId,
        token: i64,
    ) -> Result<(), SinkError> {
        self.heartbeat.beat();
        let result = self.inner.initialise_cursor(account, token).await;
        self.heartbeat.idle();
        result
    }

    async fn handle_batch(&mut self, account: &AccountId, batch: &Batch) -> Result<(), SinkError> {
        self.heartbeat.beat();
        let result = self.inner.handle_batch(account, batch).await;
        if result.is_ok() {
            self.after(account, batch).await;
        }
        // Between batches the follower waits on the source, which its stall bound limits.
        self.heartbeat.idle();
        result
    }
}
