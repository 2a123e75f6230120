//! Catch-up: page through history from the cursor until a page comes back empty, each page
//! handed to the sink whole while the next one is already being fetched.

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::reread::Unreadable;
use super::{Batch, Flow, Follower, Phase, Target};
use crate::source::{PaymentsPage, SourceError};
use crate::status::FollowerState;

impl<T: Target> Follower<T> {
    /// `true` when a page came back empty (caught up with the source), `false` when the
    /// stream must take over from a record catch-up cannot pass.
    pub(super) async fn catch_up(&mut self, cancel: &CancellationToken) -> Flow<bool> {
        self.status.set_state(FollowerState::CatchingUp);
        let mut attempt = 0;
        // The page after the one being settled, fetched while it settles (the cursor it was
        // asked from, and the answer): paging and settlement overlap instead of taking turns.
        let mut prefetched: Option<(i64, Result<PaymentsPage, SourceError>)> = None;
        loop {
            if Instant::now() >= self.next_retention {
                self.retention_check(cancel).await?;
            }
            let fetched = match prefetched.take() {
                Some((from, fetched)) if from == self.cursor => fetched,
                _ => {
                    self.or_cancel(
                        cancel,
                        self.scope
                            .page(&*self.source, self.cursor, self.cfg.page_limit),
                    )
                    .await?
                }
            };
            let page = match fetched {
                Ok(p) => p,
                Err(e) => {
                    self.source_failed("catch-up page", &e, &mut attempt, cancel)
                        .await?;
                    self.status.set_state(FollowerState::CatchingUp);
                    continue;
                }
            };
            attempt = 0;
            self.status.touch();
            if page.records.is_empty() {
                tracing::info!(account = %self.scope, cursor = self.cursor, "caught up");
                return Ok(true);
            }
            let before = self.cursor;
            let (records, up_to, unreadable) = self.prepare(page.records);
            if !records.is_empty() {
                let batch = Batch {
                    records,
                    up_to,
                    phase: Phase::CatchUp,
                };
                if unreadable.is_none() {
                    // The next page starts after this one once it is settled; ask for it now.
                    let (source, scope, limit) =
                        (self.source.clone(), self.scope, self.cfg.page_limit);
                    let next = async move {
                        tokio::select! {
                            _ = cancel.cancelled() => None,
                            page = scope.page(&*source, up_to, limit) => Some(page),
                        }
                    };
                    let (delivered, next) = tokio::join!(self.deliver(batch, cancel), next);
                    delivered?;
                    prefetched = next.map(|page| (up_to, page));
                } else {
                    self.deliver(batch, cancel).await?;
                }
                self.status.set_state(FollowerState::CatchingUp);
            }
            if let Some(e) = unreadable {
                match self.unreadable(e) {
                    Unreadable::Store(e, token) => {
                        self.deliver_unreadable(e, token, Phase::CatchUp, cancel)
                            .await?
                    }
                    Unreadable::Reread { delay, held } => {
                        self.sleep(delay, cancel).await?;
                        if held {
                            return Ok(false);
                        }
                    }
                }
                self.status.set_state(FollowerState::CatchingUp);
                continue;
            }
            if self.cursor == before {
                // Nothing moved: paging again would loop. The stream resumes from here.
                tracing::warn!(account = %self.scope, cursor = self.cursor, "catch-up page made no progress; switching to the stream");
                return Ok(false);
            }
        }
    }
}
