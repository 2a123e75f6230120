//! The live loop: stream from the cursor over SSE, reconnect on every routine end, and hand
//! the sink each record with whatever readable records are already waiting behind it.

use futures::{FutureExt as _, StreamExt as _};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::read_ahead::ReadAhead;
use super::reread::Unreadable;
use super::{Batch, End, Flow, Follower, Phase, Stop, Target};
use crate::source::{SourceError, StreamEvent};
use crate::status::{FollowerState, FollowerStatus};

impl<T: Target> Follower<T> {
    pub(super) async fn live(&mut self, cancel: &CancellationToken) -> Flow<()> {
        let mut attempt = 0u32;
        let mut first = true;
        loop {
            if !first {
                FollowerStatus::bump(&self.status.reconnects);
            }
            first = false;
            let opened = self
                .or_cancel(cancel, self.scope.stream(&*self.source, self.cursor))
                .await?;
            let mut stream = match opened {
                Ok(s) => ReadAhead::spawn(s, self.cfg.page_limit as usize),
                Err(e) => {
                    self.source_failed("stream", &e, &mut attempt, cancel)
                        .await?;
                    continue;
                }
            };
            self.status.set_state(FollowerState::Streaming);
            let opened_at = Instant::now();
            let mut delivered = 0u64;
            // An event read while gathering a backlog, handled before the stream is polled again.
            let mut peeked: Option<Option<Result<StreamEvent, SourceError>>> = None;
            let end = loop {
                let item = match peeked.take() {
                    Some(event) => Some(Ok(event)),
                    None => {
                        let retention_at = self.next_retention;
                        let next = tokio::time::timeout(self.cfg.stall_timeout, stream.next());
                        tokio::select! {
                            biased;
                            _ = cancel.cancelled() => return Err(Stop::Cancelled),
                            _ = tokio::time::sleep_until(retention_at) => None,
                            item = next => Some(item),
                        }
                    }
                };
                let Some(item) = item else {
                    self.retention_check(cancel).await?;
                    continue;
                };
                let ev = match item {
                    Err(_) => break End::Stall,
                    Ok(None) => break End::Routine,
                    Ok(Some(Err(SourceError::Stalled(_)))) => break End::Stall,
                    Ok(Some(Err(e))) => break End::Failed(e),
                    Ok(Some(Ok(ev))) => ev,
                };
                self.status.touch();
                match ev {
                    StreamEvent::Open => {}
                    StreamEvent::Closed => break End::Routine,
                    StreamEvent::ServerError(text) => break End::ErrorEvent(text),
                    StreamEvent::Record(r) => {
                        // Readable records already waiting behind this one (a backlog, a busy
                        // account) settle with it, up to a page: one transaction pair for all.
                        let mut gathered = vec![r];
                        while gathered.len() < self.cfg.page_limit as usize
                            && gathered.last().is_some_and(|r| r.is_ok())
                        {
                            match stream.next().now_or_never() {
                                Some(Some(Ok(StreamEvent::Record(Ok(next))))) => {
                                    gathered.push(Ok(next))
                                }
                                Some(other) => {
                                    peeked = Some(other);
                                    break;
                                }
                                None => break,
                            }
                        }
                        let count = gathered.len() as u64;
                        let (records, up_to, unreadable) = self.prepare(gathered);
                        if let Some(e) = unreadable {
                            match self.unreadable(e) {
                                Unreadable::Store(e, token) => {
                                    self.deliver_unreadable(e, token, Phase::Live, cancel)
                                        .await?;
                                }
                                Unreadable::Reread { delay, .. } => break End::Reread(delay),
                            }
                        } else if records.is_empty() {
                            continue;
                        } else {
                            self.deliver(
                                Batch {
                                    records,
                                    up_to,
                                    phase: Phase::Live,
                                },
                                cancel,
                            )
                            .await?;
                        }
                        self.status.set_state(FollowerState::Streaming);
                        delivered += count;
                        attempt = 0;
                    }
                }
            };
            drop(stream);
            match end {
                End::Routine => {
                    FollowerStatus::bump(&self.status.routine_closes);
                    tracing::debug!(account = %self.scope, cursor = self.cursor, delivered, "stream closed by the server; reconnecting");
                    if delivered == 0 && opened_at.elapsed() < self.cfg.quick_close_delay {
                        self.sleep(self.cfg.quick_close_delay, cancel).await?;
                    } else {
                        attempt = 0;
                    }
                }
                End::Reread(delay) => {
                    self.sleep(delay, cancel).await?;
                }
                End::Stall => {
                    FollowerStatus::bump(&self.status.stalls);
                    tracing::warn!(account = %self.scope, cursor = self.cursor, bound = ?self.cfg.stall_timeout, "stream stalled; reconnecting");
                }
                End::ErrorEvent(text) => {
                    let e = SourceError::ErrorEvent(text);
                    self.source_failed("stream", &e, &mut attempt, cancel)
                        .await?;
                }
                End::Failed(e) => {
                    self.source_failed("stream", &e, &mut attempt, cancel)
                        .await?;
                }
            }
        }
    }
}
