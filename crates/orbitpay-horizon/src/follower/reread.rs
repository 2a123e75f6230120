//! Unreadable records: counting the reads of the record just past the cursor, and deciding
//! when to stop re-reading it and hand it over to be stored.

use std::time::Duration;

use orbitpay_core::{Backoff, Jitter};

use super::{Follower, Target};
use crate::convert::RecordError;
use crate::status::{FollowerState, FollowerStatus};

/// What to do about the unreadable record just past the cursor.
pub(super) enum Unreadable {
    /// Read it again from the cursor after `delay`. `held`: the reads are spent but the record
    /// has no paging token, so it can neither be stored nor passed; in catch-up the stream
    /// (whose events carry their token in `id:`) is tried instead.
    Reread { delay: Duration, held: bool },
    /// Hand it to the sink to be stored and passed: the record and its paging token.
    Store(RecordError, i64),
}

/// The unreadable record being re-read: the first one past `cursor` (the position is its
/// identity, so a token learnt on one read is kept for the next).
pub(super) struct Rereading {
    cursor: i64,
    token: Option<i64>,
    reads: u32,
}

impl<T: Target> Follower<T> {
    /// Counts one more unreadable read of the record just past the cursor and decides.
    pub(super) fn unreadable(&mut self, mut e: RecordError) -> Unreadable {
        FollowerStatus::bump(&self.status.malformed);
        // A token at or before the cursor is not this record's (an SSE parser carries the
        // previous event's id forward when an event has none).
        let token = e.paging_token.filter(|t| *t > self.cursor);
        let cursor = self.cursor;
        let r = match &mut self.rereading {
            Some(r) if r.cursor == cursor => r,
            slot => slot.insert(Rereading {
                cursor,
                token: None,
                reads: 0,
            }),
        };
        r.reads = r.reads.saturating_add(1);
        r.token = token.or(r.token);
        let (reads, token) = (r.reads, r.token);
        if reads >= self.cfg.unreadable_reads.max(1) {
            if let Some(t) = token {
                e.paging_token = Some(t);
                e.reads = reads;
                return Unreadable::Store(e, t);
            }
            tracing::error!(account = %self.scope, cursor, reads, reason = %e.reason, excerpt = %e.excerpt(),
                "unreadable record without a paging token: it can be neither stored nor passed; this account holds here until it reads");
            return Unreadable::Reread {
                delay: self.backoff(reads),
                held: true,
            };
        }
        let delay = self.reread_delay(reads);
        tracing::warn!(account = %self.scope, op_id = token, cursor, reads, reason = %e.reason, excerpt = %e.excerpt(), ?delay,
            "unreadable record; reading it again from the cursor");
        self.status.set_state(FollowerState::BackingOff {
            reason: format!("unreadable record after {cursor} (read {reads} times)"),
        });
        Unreadable::Reread { delay, held: false }
    }

    /// Exponential, with only the upper half jittered: re-reads must be spread over time, or a
    /// corruption lasting a few seconds (a proxy, a cache) would use them all up at once.
    fn reread_delay(&self, reads: u32) -> Duration {
        Backoff::new(
            self.cfg.backoff_base,
            self.cfg.backoff_max,
            Jitter::UpperHalf,
        )
        .delay(reads.saturating_sub(1))
    }
}
