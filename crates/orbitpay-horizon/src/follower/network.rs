//! Network mode: one follower reads the network's payments (Horizon's `GET /payments`), and
//! this target routes each record in memory to the watched accounts it pays.
//!
//! Why: one stream per account costs a stream credit per ledger each, and requests grow with
//! the number of accounts; the network's stream costs the same whatever that number (see
//! docs/architecture.md, "Network mode"). The price is reading everyone's payments, so what is
//! not for a watched account must cost nothing but the parse: no database write, no request.
//!
//! The watched set is a `watch` channel of immutable snapshots: the account registry publishes
//! a new set whenever an account is added or removed, and each batch is routed against the
//! snapshot current when it arrives, so a batch is never split between two versions.
//!
//! Whom a record is for (`recipients`): whom it pays, `to` (payments, path payments),
//! `account` (create_account), `into` (account_merge), every `asset_balance_changes[].to` (a
//! contract transfer may pay several accounts: it is one record, handed to each watched one);
//! and the sender of a payment or path payment (`from`), whose own payments may complete its
//! refunds, as the per-account stream carries them. Muxed addresses count as their `G…`
//! account, contracts (`C…`) as nobody.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use async_trait::async_trait;
use orbitpay_core::{AccountId, Address, LedgerRecord, Operation};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Batch, Phase, SinkError, Target};
use crate::convert::RecordError;
use crate::source::{FetchedRecord, LedgerSource, Scope};

/// The accounts a network follower routes to; replace the set to add or remove accounts.
pub type WatchedSet = Arc<HashSet<AccountId>>;

/// A network batch, routed: what the matcher settles in ONE transaction, with ONE cursor.
#[derive(Debug, Clone)]
pub struct RoutedBatch {
    /// Each watched account the batch pays, with its records in token order, exactly what
    /// that account's own stream would have carried of them. A record paying two watched
    /// accounts is under both (handled is per account: `payment_operations` is keyed by
    /// `(account, op_id)`). An unreadable record is `Err` here when its bytes name the
    /// account, and then it is the batch's only record.
    pub accounts: BTreeMap<AccountId, Vec<FetchedRecord>>,
    /// An unreadable record (the follower gave up re-reading it) whose bytes name no watched
    /// account: whom it pays cannot be told, so it is stored network-wide, for reconciliation
    /// to read again by its token and route then.
    pub unattributed: Option<RecordError>,
    /// The network cursor that covers the batch, the records of unwatched accounts included:
    /// store it in the same transaction as the accounts' effects. Never below the previous.
    pub up_to: i64,
    pub phase: Phase,
    /// The watched set the batch was routed against: every account in it had its records of
    /// the batch routed (none, for most), so its cursor may move to `up_to` with the network's.
    pub watched: WatchedSet,
}

impl RoutedBatch {
    /// Nothing to store but the cursor.
    pub fn is_cursor_only(&self) -> bool {
        self.accounts.is_empty() && self.unattributed.is_none()
    }
}

/// Where routed network batches go: the matcher, which settles every account's records and
/// stores the network cursor in one transaction.
#[async_trait]
pub trait NetworkSink: Send {
    /// Persist the network cursor of a first start, before anything is read.
    async fn initialise_cursor(&mut self, token: i64) -> Result<(), SinkError>;

    /// Durably handle every account's records and store `batch.up_to` as the network cursor,
    /// all or nothing. A cursor-only batch ([`RoutedBatch::is_cursor_only`]) moves the cursor
    /// alone.
    async fn handle_routed(&mut self, batch: &RoutedBatch) -> Result<(), SinkError>;
}

/// What routing did, for metrics: counts only, never per account (10,000 accounts must not
/// make 10,000 series).
#[derive(Debug, Default)]
pub struct RouteCounters {
    /// Records handed to at least one watched account.
    pub routed: AtomicU64,
    /// Records for no watched account, dropped without a write.
    pub dropped: AtomicU64,
    /// Batches written only to move the cursor (see [`NetworkTarget::cursor_flush`]).
    pub cursor_writes: AtomicU64,
}

/// The network's payments, routed to the watched accounts (see the module docs).
pub struct NetworkTarget<N> {
    sink: N,
    /// Completes the routed records (an `account_merge`'s amount) that the network's list
    /// leaves out: one request per merge to a watched account, none for anyone else's.
    source: Arc<dyn LedgerSource>,
    watched: watch::Receiver<WatchedSet>,
    cursor_flush: Duration,
    last_write: Instant,
    counters: Arc<RouteCounters>,
}

impl<N: NetworkSink> NetworkTarget<N> {
    /// Routes to the set `watched` holds at each batch. The cursor is written at least every
    /// 30 s of traffic for nobody ([`NetworkTarget::cursor_flush`]).
    pub fn new(
        sink: N,
        watched: watch::Receiver<WatchedSet>,
        source: Arc<dyn LedgerSource>,
    ) -> Self {
        NetworkTarget {
            sink,
            source,
            watched,
            cursor_flush: Duration::from_secs(30),
            last_write: Instant::now(),
            counters: Arc::default(),
        }
    }

    /// A batch for no watched account writes nothing, and the cursor moves only in memory; a
    /// restart re-reads from the stored one. So the cursor is also written alone once this
    /// long has passed since the last write: it bounds what a restart re-reads (at 200
    /// payments/s, 30 s is 6,000 records, 30 pages) at one small write per interval.
    pub fn cursor_flush(mut self, every: Duration) -> Self {
        self.cursor_flush = every;
        self
    }

    pub fn counters(&self) -> Arc<RouteCounters> {
        self.counters.clone()
    }

    /// Routes `batch` against the current watched set.
    fn route(&self, batch: &Batch) -> RoutedBatch {
        let watched = self.watched.borrow().clone();
        let mut accounts: BTreeMap<AccountId, Vec<FetchedRecord>> = BTreeMap::new();
        let mut unattributed = None;
        for r in &batch.records {
            let to: Vec<AccountId> = match r {
                Ok(rec) => recipients(rec),
                Err(e) => named_accounts(&e.raw),
            }
            .into_iter()
            .filter(|a| watched.contains(a))
            .collect();
            if to.is_empty() {
                match r {
                    Err(e) => unattributed = Some(e.clone()),
                    Ok(_) => {
                        self.counters.dropped.fetch_add(1, Relaxed);
                    }
                }
                continue;
            }
            self.counters.routed.fetch_add(1, Relaxed);
            for a in to {
                accounts.entry(a).or_default().push(r.clone());
            }
        }
        RoutedBatch {
            accounts,
            unattributed,
            up_to: batch.up_to,
            phase: batch.phase,
            watched,
        }
    }
}

#[async_trait]
impl<N: NetworkSink> Target for NetworkTarget<N> {
    fn scope(&self) -> Scope {
        Scope::Network
    }

    async fn initialise_cursor(&mut self, token: i64) -> Result<(), SinkError> {
        self.sink.initialise_cursor(token).await?;
        self.last_write = Instant::now();
        Ok(())
    }

    async fn handle_batch(&mut self, batch: &Batch) -> Result<(), SinkError> {
        let mut routed = self.route(batch);
        for rec in routed
            .accounts
            .values_mut()
            .flatten()
            .flat_map(|r| r.as_mut().ok())
        {
            // Unlike the account's stream, which would fail and reconnect, a merge that cannot
            // be completed now is the batch failing: retried whole after a backoff.
            self.source.complete_record(rec).await.map_err(|e| {
                SinkError::Retryable(format!(
                    "completing record {} ({}): {e}",
                    rec.op_id,
                    rec.operation.type_name()
                ))
            })?;
        }
        if routed.is_cursor_only() {
            if self.last_write.elapsed() < self.cursor_flush {
                return Ok(());
            }
            self.counters.cursor_writes.fetch_add(1, Relaxed);
        }
        self.sink.handle_routed(&routed).await?;
        self.last_write = Instant::now();
        Ok(())
    }
}

/// The accounts a record is for (whom it pays, then the sender of a transfer), in the order
/// the record names them, each once.
pub fn recipients(rec: &LedgerRecord) -> Vec<AccountId> {
    let mut out = Vec::new();
    let mut push = |a: Option<&Address>| {
        if let Some(a) = a.and_then(Address::account)
            && !out.contains(&a)
        {
            out.push(a);
        }
    };
    match &rec.operation {
        Operation::Transfer { to, from, .. } => {
            push(Some(to));
            push(Some(from));
        }
        // Horizon's payments lists never carry one; a source that does routes it to its sender.
        Operation::CreateClaimableBalance { source, .. } => push(Some(source)),
        Operation::CreateAccount { account, .. } => push(Some(&Address::Account(*account))),
        Operation::AccountMerge { into, .. } => push(Some(into)),
        Operation::ContractTransfers { changes } => {
            for c in changes {
                push(c.to.as_ref());
            }
        }
        // A record the source could not interpret still names whom it pays in its JSON (or
        // it could not be routed at all); the matcher records it for each as unsupported.
        Operation::Unsupported { .. } => {
            let raw = rec.raw.as_deref();
            let field = |v: Option<&serde_json::Value>| {
                v.and_then(serde_json::Value::as_str)
                    .and_then(|s| s.parse::<Address>().ok())
            };
            if let Some(raw) = raw {
                for name in ["to", "account", "into", "from"] {
                    push(field(raw.get(name)).as_ref());
                }
                let changes = raw.get("asset_balance_changes");
                for c in changes.and_then(|c| c.as_array()).into_iter().flatten() {
                    push(field(c.get("to")).as_ref());
                }
            }
        }
    }
    out
}

/// Every valid `G…` address written in `bytes` (an unreadable record's raw bytes), each once.
fn named_accounts(bytes: &[u8]) -> Vec<AccountId> {
    const LEN: usize = 56;
    let base32 = |b: u8| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b);
    let mut out = Vec::new();
    let mut i = 0;
    while i + LEN <= bytes.len() {
        let boundary = i == 0 || !base32(bytes[i - 1]);
        let candidate = &bytes[i..i + LEN];
        if boundary
            && candidate[0] == b'G'
            && candidate.iter().copied().all(base32)
            && bytes.get(i + LEN).is_none_or(|b| !base32(*b))
            && let Some(a) = std::str::from_utf8(candidate)
                .ok()
                .and_then(|s| s.parse::<AccountId>().ok())
        {
            if !out.contains(&a) {
                out.push(a);
            }
            i += LEN;
            continue;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_found_in_the_bytes_of_an_unreadable_record() {
        let a: AccountId = "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7"
            .parse()
            .unwrap();
        let raw = format!(r#"{{"id":"12","to":"{a}","from":"{a}","amount":"1.0"#);
        assert_eq!(named_accounts(raw.as_bytes()), vec![a]);
        // A longer run of base32 (or a broken checksum) is not an address.
        let longer = format!("X{a}A");
        assert!(named_accounts(longer.as_bytes()).is_empty());
        let broken = a.to_string().replace('7', "6");
        assert!(named_accounts(broken.as_bytes()).is_empty());
    }

    #[test]
    fn a_transfer_is_for_its_receiver_and_its_sender() {
        use orbitpay_core::{Asset, MuxedAccount, TransferKind, TxHash};
        let merchant = AccountId::from_bytes([1; 32]);
        let payer = AccountId::from_bytes([2; 32]);
        let rec = |operation| LedgerRecord {
            op_id: 1,
            tx_hash: TxHash::from_bytes([3; 32]),
            inner_tx_hash: None,
            ledger: 1,
            closed_at: None,
            successful: true,
            memo: orbitpay_core::Memo::None,
            operation,
            raw: None,
        };
        let refund = rec(Operation::Transfer {
            kind: TransferKind::Payment,
            from: Address::Muxed(MuxedAccount::new(merchant, 4)),
            to: Address::Account(payer),
            asset: Asset::Native,
            amount: "1".parse().unwrap(),
        });
        // The merchant's own payment reaches its refunds: routed to it as the sender.
        assert_eq!(recipients(&refund), vec![payer, merchant]);
        let to_self = rec(Operation::Transfer {
            kind: TransferKind::Payment,
            from: Address::Account(merchant),
            to: Address::Account(merchant),
            asset: Asset::Native,
            amount: "1".parse().unwrap(),
        });
        assert_eq!(recipients(&to_self), vec![merchant], "each account once");
        let balance = rec(Operation::CreateClaimableBalance {
            source: Address::Account(merchant),
            asset: Asset::Native,
            amount: "1".parse().unwrap(),
            claimants: vec![payer],
        });
        assert_eq!(recipients(&balance), vec![merchant]);
    }
}
