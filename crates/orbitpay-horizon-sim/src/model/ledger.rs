//! The ledger history the simulator holds: stored transactions, the indexes Horizon's endpoints
//! are answered from, and what closing a ledger reports back.

use std::collections::{HashMap, HashSet};

use orbitpay_core::{AccountId, toid};

use super::{AccountState, Tx, sha};

/// What [`crate::HorizonSim::close_ledger`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedLedger {
    pub sequence: u32,
    /// RFC 3339 close time, as `created_at` reads.
    pub closed_at: String,
    pub txs: Vec<ClosedTx>,
}

/// One transaction as stored: its hash and the ids of its operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedTx {
    /// 64 lowercase hex characters.
    pub hash: String,
    pub ledger: u32,
    /// 1-based application order in the ledger.
    pub tx_order: u32,
    /// The transaction's paging token (`toid(ledger, tx_order, 0)`).
    pub paging_token: i64,
    /// Every operation's id/paging token, in order (including non-payment ops).
    pub op_ids: Vec<i64>,
    pub successful: bool,
}

impl ClosedTx {
    /// Ids of the operations that appear on `/payments` endpoints.
    pub fn payment_op_ids(&self, tx: &Tx) -> Vec<i64> {
        self.op_ids
            .iter()
            .zip(&tx.ops)
            .filter(|(_, op)| op.is_payment())
            .map(|(id, _)| *id)
            .collect()
    }
}

pub(crate) struct StoredTx {
    pub tx: Tx,
    pub hash: String,
    pub hash_bytes: [u8; 32],
    pub ledger: u32,
    pub order: u32,
    pub close_time: i64,
    pub account_sequence: i64,
}

impl StoredTx {
    pub fn paging_token(&self) -> i64 {
        toid::encode(self.ledger, self.order, 0)
    }
}

/// Whose payments a page or stream lists: one account's (`/accounts/{G}/payments`, every
/// operation it takes part in) or the network's (`/payments`, every payment operation once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Account(AccountId),
    Network,
}

/// The first `k` in `0..len` for which `pred` is false (`pred` true then false, as
/// `slice::partition_point`), for indexes that are not one slice.
fn partition_point(len: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// A payment-type operation, indexed for `/payments`.
#[derive(Clone, Copy)]
pub(crate) struct PaymentRef {
    pub toid: i64,
    pub tx: u32,
    /// 0-based index into the transaction's ops.
    pub op: u16,
}

/// The whole ledger history the simulator holds, and its indexes.
pub(crate) struct Ledger {
    pub seed: u64,
    /// Bumped by a network reset so hashes after it differ from hashes before.
    pub network_epoch: u64,
    pub latest: u32,
    /// The oldest ledger history holds (the genesis of this network epoch).
    pub genesis: u32,
    /// Configured retention: records in ledgers below this are not served.
    pub retention_elder: u32,
    /// Close time (unix seconds) of `time_base_ledger`; 5 s per ledger after it.
    pub time_base: i64,
    pub time_base_ledger: u32,
    pub txs: Vec<StoredTx>,
    pub payments: Vec<PaymentRef>,
    pub by_account: HashMap<AccountId, Vec<u32>>,
    pub by_hash: HashMap<String, u32>,
    pub known: HashSet<AccountId>,
    pub sequences: HashMap<AccountId, i64>,
    /// Scripted balances; a known account without an entry holds the default.
    pub accounts: HashMap<AccountId, AccountState>,
    /// Accounts scripted away (merged): `GET /accounts/{id}` answers 404 for them.
    pub removed: HashSet<AccountId>,
}

/// Default close time of the first ledger: 2024-06-01T00:00:00Z.
pub(crate) const DEFAULT_TIME_BASE: i64 = 1_717_200_000;
pub(crate) const LEDGER_SECONDS: i64 = 5;

impl Ledger {
    pub fn new(seed: u64, start_ledger: u32) -> Ledger {
        assert!(start_ledger >= 2, "start ledger must be at least 2");
        let genesis = start_ledger - 1;
        Ledger {
            seed,
            network_epoch: 0,
            latest: genesis,
            genesis,
            retention_elder: genesis,
            time_base: DEFAULT_TIME_BASE - LEDGER_SECONDS,
            time_base_ledger: genesis,
            txs: Vec::new(),
            payments: Vec::new(),
            by_account: HashMap::new(),
            by_hash: HashMap::new(),
            known: HashSet::new(),
            sequences: HashMap::new(),
            accounts: HashMap::new(),
            removed: HashSet::new(),
        }
    }

    pub fn close_time(&self, ledger: u32) -> i64 {
        self.time_base + (i64::from(ledger) - i64::from(self.time_base_ledger)) * LEDGER_SECONDS
    }

    /// The oldest ledger served (Horizon's `history_elder_ledger`).
    pub fn elder(&self) -> u32 {
        self.retention_elder.max(self.genesis).min(self.latest)
    }

    pub fn close(&mut self, txs: Vec<Tx>) -> ClosedLedger {
        let seq = self.latest + 1;
        let close_time = self.close_time(seq);
        let mut out = Vec::with_capacity(txs.len());
        assert!(txs.len() < 0xF_FFFF, "too many transactions in one ledger");
        for (i, tx) in txs.into_iter().enumerate() {
            assert!(
                !tx.ops.is_empty() && tx.ops.len() <= 100,
                "a transaction holds 1..=100 operations"
            );
            let order = i as u32 + 1;
            let hash_bytes = sha(&[
                b"tx",
                &self.seed.to_be_bytes(),
                &self.network_epoch.to_be_bytes(),
                &seq.to_be_bytes(),
                &order.to_be_bytes(),
            ]);
            let hash = hex::encode(hash_bytes);
            let tx_index = self.txs.len() as u32;
            let source = tx
                .source
                .account()
                .expect("transaction source is an account");
            self.known.insert(source);
            let next_seq = self
                .sequences
                .entry(source)
                .or_insert_with(|| i64::from(seq) << 32);
            *next_seq += 1;
            let account_sequence = *next_seq;
            let mut op_ids = Vec::with_capacity(tx.ops.len());
            for (j, op) in tx.ops.iter().enumerate() {
                let id = toid::encode(seq, order, j as u32 + 1);
                op_ids.push(id);
                let parts = op.participants(tx.successful);
                self.known.extend(parts.iter().copied());
                if op.is_payment() {
                    let pidx = self.payments.len() as u32;
                    self.payments.push(PaymentRef {
                        toid: id,
                        tx: tx_index,
                        op: j as u16,
                    });
                    for p in parts {
                        self.by_account.entry(p).or_default().push(pidx);
                    }
                }
            }
            out.push(ClosedTx {
                hash: hash.clone(),
                ledger: seq,
                tx_order: order,
                paging_token: toid::encode(seq, order, 0),
                op_ids,
                successful: tx.successful,
            });
            self.by_hash.insert(hash.clone(), tx_index);
            self.txs.push(StoredTx {
                tx,
                hash,
                hash_bytes,
                ledger: seq,
                order,
                close_time,
                account_sequence,
            });
        }
        self.latest = seq;
        ClosedLedger {
            sequence: seq,
            closed_at: crate::render::rfc3339(close_time),
            txs: out,
        }
    }

    /// Testnet reset: all history is gone, the ledger sequence restarts at `start_ledger`
    /// (the next closed ledger), while time goes on.
    pub fn reset(&mut self, start_ledger: u32) {
        assert!(start_ledger >= 2, "start ledger must be at least 2");
        let now = self.close_time(self.latest);
        let seed = self.seed;
        let epoch = self.network_epoch + 1;
        *self = Ledger::new(seed, start_ledger);
        self.network_epoch = epoch;
        self.time_base = now + LEDGER_SECONDS;
        self.time_base_ledger = start_ledger - 1;
    }

    /// The account entry `GET /accounts/{id}` serves: `None` for an account the ledger never
    /// saw (or one scripted away). An account first read here gets its sequence number now
    /// (`latest << 32`, as for an account created in the latest ledger), and every transaction
    /// it sends later bumps that same number.
    pub fn account_entry(&mut self, account: &AccountId) -> Option<(i64, AccountState)> {
        if !self.known.contains(account) || self.removed.contains(account) {
            return None;
        }
        let created = i64::from(self.latest) << 32;
        let sequence = *self.sequences.entry(*account).or_insert(created);
        let state = self.accounts.get(account).cloned().unwrap_or_default();
        Some((sequence, state))
    }

    /// The scripted state of `account`, making it known (and existing) from now on.
    pub fn account_state_mut(&mut self, account: AccountId) -> &mut AccountState {
        self.known.insert(account);
        self.removed.remove(&account);
        self.accounts.entry(account).or_default()
    }

    pub fn tx_for(&self, p: &PaymentRef) -> &StoredTx {
        &self.txs[p.tx as usize]
    }

    /// Looks up a transaction by (ledger, order) via binary search.
    pub fn tx_at(&self, ledger: u32, order: u32) -> Option<usize> {
        let key = toid::encode(ledger, order, 0);
        self.txs
            .binary_search_by_key(&key, |t| t.paging_token())
            .ok()
    }

    pub fn retained(&self, ledger: u32) -> bool {
        ledger >= self.elder()
    }

    /// One page of `scope`'s payments: `asc` → tokens strictly greater than `cursor`; desc →
    /// strictly less. Records older than the retention window are skipped.
    pub fn page(
        &self,
        scope: &Scope,
        cursor: i64,
        asc: bool,
        limit: usize,
        include_failed: bool,
    ) -> Vec<PaymentRef> {
        match scope {
            Scope::Account(account) => {
                let Some(list) = self.by_account.get(account) else {
                    return Vec::new();
                };
                self.page_from(
                    list.len(),
                    |k| list[k] as usize,
                    cursor,
                    asc,
                    limit,
                    include_failed,
                )
            }
            Scope::Network => self.page_from(
                self.payments.len(),
                |k| k,
                cursor,
                asc,
                limit,
                include_failed,
            ),
        }
    }

    /// A page over an ascending index of payments: `len` entries, entry `k` being
    /// `self.payments[at(k)]` (an account's list, or every payment for the network).
    fn page_from(
        &self,
        len: usize,
        at: impl Fn(usize) -> usize,
        cursor: i64,
        asc: bool,
        limit: usize,
        include_failed: bool,
    ) -> Vec<PaymentRef> {
        let floor = toid::ledger_start(self.elder());
        let keep = |p: &PaymentRef| {
            p.toid >= floor && (include_failed || self.txs[p.tx as usize].tx.successful)
        };
        let toid_at = |k: usize| self.payments[at(k)].toid;
        let mut out = Vec::new();
        if asc {
            let pos = partition_point(len, |k| toid_at(k) <= cursor);
            for k in pos..len {
                let p = self.payments[at(k)];
                if keep(&p) {
                    out.push(p);
                    if out.len() == limit {
                        break;
                    }
                }
            }
        } else {
            let end = partition_point(len, |k| toid_at(k) < cursor);
            for k in (0..end).rev() {
                let p = self.payments[at(k)];
                if p.toid < floor {
                    break;
                }
                if keep(&p) {
                    out.push(p);
                    if out.len() == limit {
                        break;
                    }
                }
            }
        }
        out
    }

    /// The payment operations of one transaction (failed ones included, as Horizon does for a
    /// transaction-scoped query).
    pub fn tx_payments(&self, tx_index: usize) -> Vec<PaymentRef> {
        let st = &self.txs[tx_index];
        st.tx
            .ops
            .iter()
            .enumerate()
            .filter(|(_, op)| op.is_payment())
            .map(|(j, _)| PaymentRef {
                toid: toid::encode(st.ledger, st.order, j as u32 + 1),
                tx: tx_index as u32,
                op: j as u16,
            })
            .collect()
    }
}
