//! The modelled ledger: transactions and operations as the simulator's scripts build them, and
//! the indexes Horizon's endpoints are answered from.

use std::collections::{HashMap, HashSet};

use orbitpay_core::{AccountId, Address, Amount, Asset, ContractId, Memo, MuxedAccount, toid};
use sha2::{Digest, Sha256};

/// Anything that names a party in a simulated operation: `AccountId`, `MuxedAccount`,
/// `ContractId`, `Address`, or a `&str`/`String` strkey (`G…`, `M…`, `C…`; panics if invalid,
/// as this is a test-script convenience).
pub trait IntoAddress {
    fn into_address(self) -> Address;
}

impl IntoAddress for Address {
    fn into_address(self) -> Address {
        self
    }
}
impl IntoAddress for AccountId {
    fn into_address(self) -> Address {
        Address::Account(self)
    }
}
impl IntoAddress for &AccountId {
    fn into_address(self) -> Address {
        Address::Account(*self)
    }
}
impl IntoAddress for MuxedAccount {
    fn into_address(self) -> Address {
        Address::Muxed(self)
    }
}
impl IntoAddress for ContractId {
    fn into_address(self) -> Address {
        Address::Contract(self)
    }
}
impl IntoAddress for &str {
    fn into_address(self) -> Address {
        self.parse()
            .unwrap_or_else(|e| panic!("not a G/M/C address: {self:?}: {e}"))
    }
}
impl IntoAddress for String {
    fn into_address(self) -> Address {
        self.as_str().into_address()
    }
}

/// Builds an [`Amount`] from stroops (1 unit = 10,000,000 stroops). Panics on a negative value.
pub fn stroops(n: i64) -> Amount {
    Amount::from_stroops(n).expect("stroops must be non-negative")
}

/// Builds an [`Amount`] of whole units (`units(12)` prints as `"12.0000000"`).
pub fn units(n: i64) -> Amount {
    stroops(n.checked_mul(10_000_000).expect("amount overflow"))
}

/// A deterministic account derived from `(seed, index)`: handy for tests that need many
/// distinct, valid `G…` addresses.
pub fn derive_account(seed: u64, index: u64) -> AccountId {
    AccountId::from_bytes(sha(&[
        b"account",
        &seed.to_be_bytes(),
        &index.to_be_bytes(),
    ]))
}

/// A deterministic contract id derived from `(seed, index)`.
pub fn derive_contract(seed: u64, index: u64) -> ContractId {
    ContractId::from_bytes(sha(&[
        b"contract",
        &seed.to_be_bytes(),
        &index.to_be_bytes(),
    ]))
}

pub(crate) fn sha(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

fn require_account(a: &Address, what: &str) {
    assert!(
        !matches!(a, Address::Contract(_)),
        "{what} cannot be a contract (C…) address in this operation type"
    );
}

/// One operation. Build it with the constructors ([`Op::payment`], [`Op::sac_transfer`], …)
/// and add it to a [`Tx`]. The first address argument of each constructor is the operation's
/// source account (the payer); Horizon reports it as `source_account` (and `from`/`funder`/…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub kind: OpKind,
}

/// The operation kinds the simulator models. Everything except [`OpKind::ManageData`] appears on
/// the `/payments` endpoints; `ManageData` exists to occupy an operation index in multi-op
/// transactions (so payment op indexes have gaps, as on the real network).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpKind {
    /// `payment` (type_i 1).
    Payment {
        from: Address,
        to: Address,
        asset: Asset,
        amount: Amount,
    },
    /// `path_payment_strict_receive` (type_i 2): `to` receives exactly `dest_amount` of
    /// `dest_asset`; the sender spent `source_amount` (≤ `source_max`) of `source_asset`.
    PathPaymentStrictReceive {
        from: Address,
        to: Address,
        dest_asset: Asset,
        dest_amount: Amount,
        source_asset: Asset,
        source_amount: Amount,
        source_max: Amount,
        path: Vec<Asset>,
    },
    /// `path_payment_strict_send` (type_i 13): the sender spent exactly `source_amount`; `to`
    /// received `dest_amount` (≥ `destination_min`).
    PathPaymentStrictSend {
        from: Address,
        to: Address,
        source_asset: Asset,
        source_amount: Amount,
        dest_asset: Asset,
        dest_amount: Amount,
        destination_min: Amount,
        path: Vec<Asset>,
    },
    /// `create_account` (type_i 0).
    CreateAccount {
        funder: Address,
        account: AccountId,
        starting_balance: Amount,
    },
    /// `account_merge` (type_i 8). `amount` is the merged balance: it is NOT in the operation
    /// record (Horizon has no amount field there), only in the `account_credited` effect.
    AccountMerge {
        account: Address,
        into: Address,
        amount: Amount,
    },
    /// `invoke_host_function` (type_i 24) calling a Stellar Asset Contract's `transfer`: one
    /// `asset_balance_changes` entry of type `transfer`. `to` may be a `C…` contract or a muxed
    /// account (then `to` is the G account and `destination_muxed_id` the id).
    SacTransfer {
        from: Address,
        to: Address,
        asset: Asset,
        amount: Amount,
    },
    /// `manage_data` (type_i 10): not a payment; only occupies an operation index.
    ManageData { source: Address, name: String },
}

impl Op {
    /// A classic `payment`. `from`/`to` may be G or M addresses.
    pub fn payment(
        from: impl IntoAddress,
        to: impl IntoAddress,
        asset: Asset,
        amount: Amount,
    ) -> Op {
        let (from, to) = (from.into_address(), to.into_address());
        require_account(&from, "payment source");
        require_account(&to, "payment destination");
        Op {
            kind: OpKind::Payment {
                from,
                to,
                asset,
                amount,
            },
        }
    }

    /// A `path_payment_strict_receive`: `to` receives `dest_amount` of `dest_asset`, paid with
    /// `source_amount` of `source_asset`. `source_max` defaults to `source_amount` and the path to
    /// empty; change them with [`Op::with_source_max`] / [`Op::with_path`].
    pub fn path_payment_strict_receive(
        from: impl IntoAddress,
        to: impl IntoAddress,
        dest_asset: Asset,
        dest_amount: Amount,
        source_asset: Asset,
        source_amount: Amount,
    ) -> Op {
        let (from, to) = (from.into_address(), to.into_address());
        require_account(&from, "path payment source");
        require_account(&to, "path payment destination");
        Op {
            kind: OpKind::PathPaymentStrictReceive {
                from,
                to,
                dest_asset,
                dest_amount,
                source_asset,
                source_amount,
                source_max: source_amount,
                path: Vec::new(),
            },
        }
    }

    /// A `path_payment_strict_send`: the sender spends `source_amount` of `source_asset`; `to`
    /// receives `dest_amount` of `dest_asset`. `destination_min` defaults to `dest_amount`.
    pub fn path_payment_strict_send(
        from: impl IntoAddress,
        to: impl IntoAddress,
        source_asset: Asset,
        source_amount: Amount,
        dest_asset: Asset,
        dest_amount: Amount,
    ) -> Op {
        let (from, to) = (from.into_address(), to.into_address());
        require_account(&from, "path payment source");
        require_account(&to, "path payment destination");
        Op {
            kind: OpKind::PathPaymentStrictSend {
                from,
                to,
                source_asset,
                source_amount,
                dest_asset,
                dest_amount,
                destination_min: dest_amount,
                path: Vec::new(),
            },
        }
    }

    /// A `create_account` funding `account` with `starting_balance` XLM.
    pub fn create_account(
        funder: impl IntoAddress,
        account: AccountId,
        starting_balance: Amount,
    ) -> Op {
        let funder = funder.into_address();
        require_account(&funder, "funder");
        Op {
            kind: OpKind::CreateAccount {
                funder,
                account,
                starting_balance,
            },
        }
    }

    /// An `account_merge` of `account` into `into`, moving `amount` XLM (visible only in the
    /// operation's effects).
    pub fn account_merge(account: impl IntoAddress, into: impl IntoAddress, amount: Amount) -> Op {
        let (account, into) = (account.into_address(), into.into_address());
        require_account(&account, "merged account");
        require_account(&into, "merge destination");
        Op {
            kind: OpKind::AccountMerge {
                account,
                into,
                amount,
            },
        }
    }

    /// A SAC `transfer` (`invoke_host_function` with `asset_balance_changes`). `to` may be a C,
    /// G or M address; `from` a G or C address (a muxed `from` is reported as its G account).
    pub fn sac_transfer(
        from: impl IntoAddress,
        to: impl IntoAddress,
        asset: Asset,
        amount: Amount,
    ) -> Op {
        Op {
            kind: OpKind::SacTransfer {
                from: from.into_address(),
                to: to.into_address(),
                asset,
                amount,
            },
        }
    }

    /// A non-payment operation (`manage_data`) that only takes an operation index.
    pub fn manage_data(source: impl IntoAddress, name: &str) -> Op {
        let source = source.into_address();
        require_account(&source, "manage_data source");
        Op {
            kind: OpKind::ManageData {
                source,
                name: name.to_owned(),
            },
        }
    }

    /// Sets the path (intermediate assets) of a path payment. No effect on other kinds.
    pub fn with_path(mut self, assets: Vec<Asset>) -> Op {
        match &mut self.kind {
            OpKind::PathPaymentStrictReceive { path, .. }
            | OpKind::PathPaymentStrictSend { path, .. } => *path = assets,
            _ => {}
        }
        self
    }

    /// Sets `source_max` of a strict-receive path payment. No effect on other kinds.
    pub fn with_source_max(mut self, max: Amount) -> Op {
        if let OpKind::PathPaymentStrictReceive { source_max, .. } = &mut self.kind {
            *source_max = max;
        }
        self
    }

    /// Sets `destination_min` of a strict-send path payment. No effect on other kinds.
    pub fn with_destination_min(mut self, min: Amount) -> Op {
        if let OpKind::PathPaymentStrictSend {
            destination_min, ..
        } = &mut self.kind
        {
            *destination_min = min;
        }
        self
    }

    /// The operation's source account (the payer).
    pub fn source(&self) -> &Address {
        match &self.kind {
            OpKind::Payment { from, .. }
            | OpKind::PathPaymentStrictReceive { from, .. }
            | OpKind::PathPaymentStrictSend { from, .. }
            | OpKind::SacTransfer { from, .. } => from,
            OpKind::CreateAccount { funder, .. } => funder,
            OpKind::AccountMerge { account, .. } => account,
            OpKind::ManageData { source, .. } => source,
        }
    }

    /// Whether Horizon lists this operation on `/payments` endpoints.
    pub fn is_payment(&self) -> bool {
        !matches!(self.kind, OpKind::ManageData { .. })
    }

    pub(crate) fn type_name(&self) -> (&'static str, u32) {
        match self.kind {
            OpKind::CreateAccount { .. } => ("create_account", 0),
            OpKind::Payment { .. } => ("payment", 1),
            OpKind::PathPaymentStrictReceive { .. } => ("path_payment_strict_receive", 2),
            OpKind::AccountMerge { .. } => ("account_merge", 8),
            OpKind::ManageData { .. } => ("manage_data", 10),
            OpKind::PathPaymentStrictSend { .. } => ("path_payment_strict_send", 13),
            OpKind::SacTransfer { .. } => ("invoke_host_function", 24),
        }
    }

    /// Every G account taking part (Horizon's operation participants): the source plus the
    /// receivers. Muxed addresses count as their G account; contracts are not accounts. A SAC
    /// transfer's receiver comes from its contract events, which a failed transaction lacks.
    pub(crate) fn participants(&self, successful: bool) -> Vec<AccountId> {
        let mut out: Vec<AccountId> = Vec::with_capacity(2);
        let mut push = |a: Option<AccountId>| {
            if let Some(a) = a
                && !out.contains(&a)
            {
                out.push(a);
            }
        };
        push(self.source().account());
        match &self.kind {
            OpKind::Payment { to, .. }
            | OpKind::PathPaymentStrictReceive { to, .. }
            | OpKind::PathPaymentStrictSend { to, .. } => push(to.account()),
            OpKind::SacTransfer { to, .. } => {
                if successful {
                    push(to.account())
                }
            }
            OpKind::CreateAccount { account, .. } => push(Some(*account)),
            OpKind::AccountMerge { into, .. } => push(into.account()),
            OpKind::ManageData { .. } => {}
        }
        out
    }
}

/// A transaction to put in a ledger: a source, a memo, a success flag and 1..=100 operations.
///
/// ```ignore
/// Tx::new(payer).memo(Memo::Id(7)).op(Op::payment(payer, shop, Asset::Native, units(5)))
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tx {
    pub source: Address,
    pub memo: Memo,
    pub successful: bool,
    pub ops: Vec<Op>,
    pub fee_charged: i64,
    pub max_fee: i64,
}

impl Tx {
    /// A successful transaction from `source` (G or M) with no memo and no operations yet.
    pub fn new(source: impl IntoAddress) -> Tx {
        let source = source.into_address();
        require_account(&source, "transaction source");
        Tx {
            source,
            memo: Memo::None,
            successful: true,
            ops: Vec::new(),
            fee_charged: 100,
            max_fee: 100,
        }
    }

    pub fn memo(mut self, memo: Memo) -> Tx {
        self.memo = memo;
        self
    }

    /// A text memo from raw bytes (≤ 28; may be invalid UTF-8 or hold NULs). Panics if longer.
    pub fn memo_text(self, bytes: impl Into<Vec<u8>>) -> Tx {
        let memo = Memo::text(bytes).expect("text memo of at most 28 bytes");
        self.memo(memo)
    }

    pub fn memo_id(self, id: u64) -> Tx {
        self.memo(Memo::Id(id))
    }

    /// Marks the transaction failed: it is hidden from `/payments` unless `include_failed=true`,
    /// path payments then read `"0.0000000"` for the amount the failed exchange did not set.
    pub fn failed(mut self) -> Tx {
        self.successful = false;
        self
    }

    pub fn successful(mut self, ok: bool) -> Tx {
        self.successful = ok;
        self
    }

    pub fn op(mut self, op: Op) -> Tx {
        self.ops.push(op);
        self
    }

    pub fn ops(mut self, ops: impl IntoIterator<Item = Op>) -> Tx {
        self.ops.extend(ops);
        self
    }

    /// Fee fields (stroops): `fee_charged` and `max_fee`. Default 100/100.
    pub fn fee(mut self, charged: i64, max: i64) -> Tx {
        self.fee_charged = charged;
        self.max_fee = max;
        self
    }
}

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

    /// Account payments page: `asc` → tokens strictly greater than `cursor`; desc → strictly
    /// less. Records older than the retention window are skipped.
    pub fn account_page(
        &self,
        account: &AccountId,
        cursor: i64,
        asc: bool,
        limit: usize,
        include_failed: bool,
    ) -> Vec<PaymentRef> {
        let Some(list) = self.by_account.get(account) else {
            return Vec::new();
        };
        self.page_from(list, cursor, asc, limit, include_failed)
    }

    fn page_from(
        &self,
        list: &[u32],
        cursor: i64,
        asc: bool,
        limit: usize,
        include_failed: bool,
    ) -> Vec<PaymentRef> {
        let floor = toid::ledger_start(self.elder());
        let keep = |p: &PaymentRef| {
            p.toid >= floor && (include_failed || self.txs[p.tx as usize].tx.successful)
        };
        let pos = list.partition_point(|&i| self.payments[i as usize].toid <= cursor);
        let mut out = Vec::new();
        if asc {
            for &i in &list[pos..] {
                let p = self.payments[i as usize];
                if keep(&p) {
                    out.push(p);
                    if out.len() == limit {
                        break;
                    }
                }
            }
        } else {
            let end = list.partition_point(|&i| self.payments[i as usize].toid < cursor);
            for &i in list[..end].iter().rev() {
                let p = self.payments[i as usize];
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
