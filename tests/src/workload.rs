//! A seeded mixed workload: sessions created over the admin socket (some keys retried, one
//! reused with another body), and payments on the simulated ledger of every kind the matcher
//! reads (muxed, memo id, text memo, multi-op, path payments, SAC transfers), with duplicates,
//! late and underpaid ones, unknown references, wrong assets, hostile memo bytes, payments
//! that are not credits at all, and client-reported hashes, some that never land.
//!
//! Everything random comes from the seed; what the daemon answers (ids, references) does
//! not, so a replay makes the same choices, not the same bytes. The workload writes down what
//! the checker needs: every operation that credits the shop, every one that must be ignored,
//! the ledgers' close times, and what the admin API answered.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use orbitpay_core::{Asset, Memo, MuxedAccount, toid};
use orbitpay_horizon_sim::{ClosedLedger, HorizonSim, Op, Tx, derive_account, stroops};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};

use crate::admin::{Admin, Answer};
use orbitpay_core::AccountId;

/// A session the admin API created and answered.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub reference: u64,
    pub amount: i64,
    pub asset: Asset,
    pub key: String,
    /// Stroops paid to it so far (by this workload, whatever the daemon made of them).
    pub paid: i64,
}

/// An operation that moves money into the shop's account.
#[derive(Debug, Clone)]
pub struct Credit {
    pub tx_hash: String,
    pub ledger: u32,
    /// What the shop received, in stroops.
    pub amount: i64,
    pub what: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct Record {
    pub credits: BTreeMap<i64, Credit>,
    /// Operations the daemon must not record anywhere (outgoing, failed transactions).
    pub ignored: BTreeSet<i64>,
    /// Credits Horizon no longer serves (below its elder ledger, a retention gap): not
    /// expected anywhere, allowed if the daemon read them before the gap opened.
    pub beyond_retention: BTreeMap<i64, Credit>,
    /// Ledger sequence → close time, unix seconds.
    pub closed: HashMap<u32, i64>,
    /// Idempotency key → the session id its first answer named.
    pub answered_keys: BTreeMap<String, String>,
    /// Keys the client gave up on (the request may or may not have happened).
    pub abandoned_keys: BTreeSet<String>,
    /// What the admin API answered that it must not have.
    pub wrong_answers: Vec<String>,
    pub reports: usize,
    pub steps: usize,
}

/// Per operation of a transaction: the credit it makes to the shop (stroops, kind), if any.
type OpCredits = Vec<Option<(i64, &'static str)>>;

pub struct Workload {
    rng: StdRng,
    shop: AccountId,
    payer: AccountId,
    usdc: Asset,
    pub sessions: Vec<Session>,
    pub record: Record,
    next_key: usize,
    published: Option<tokio::sync::watch::Sender<Record>>,
}

/// Text memos hold at most 28 bytes; a decimal u64 is at most 20.
fn closed_at_secs(ledger: &ClosedLedger) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&ledger.closed_at)
        .unwrap()
        .timestamp()
}

impl Workload {
    pub fn new(seed: u64, shop: AccountId, payer: AccountId) -> Workload {
        let issuer = derive_account(seed, 2).to_string();
        Workload {
            rng: StdRng::seed_from_u64(seed),
            shop,
            payer,
            usdc: Asset::credit("USDC", &issuer).unwrap(),
            sessions: Vec::new(),
            record: Record::default(),
            next_key: 0,
            published: None,
        }
    }

    /// The record as of the last ledger this workload closed, for a check while it runs.
    pub fn publish(&mut self) -> tokio::sync::watch::Receiver<Record> {
        let (tx, rx) = tokio::sync::watch::channel(self.record.clone());
        self.published = Some(tx);
        rx
    }

    /// Horizon drops everything before `elder` (a retention gap): credits closed before it are
    /// no longer expected.
    pub fn forget_before(&mut self, elder: u32) {
        let lost: Vec<i64> = self
            .record
            .credits
            .iter()
            .filter(|(_, c)| c.ledger < elder)
            .map(|(op, _)| *op)
            .collect();
        for op in lost {
            let c = self.record.credits.remove(&op).unwrap();
            self.record.beyond_retention.insert(op, c);
        }
    }

    /// The issuer of the workload's USDC: register it with the simulator.
    pub fn accounts(&self) -> Vec<AccountId> {
        match &self.usdc {
            Asset::Credit { issuer, .. } => vec![self.shop, self.payer, *issuer],
            Asset::Native => vec![self.shop, self.payer],
        }
    }

    /// One random step. Returns what it did, for logs.
    pub async fn step(&mut self, sim: &HorizonSim, admin: &Admin) -> &'static str {
        self.record.steps += 1;
        if self.sessions.len() < 3 || self.rng.random_bool(0.2) {
            self.create(admin).await;
            return "create";
        }
        let roll = self.rng.random_range(0..100);
        match roll {
            0..6 => {
                self.retry_create(admin).await;
                "retry create"
            }
            6..8 => {
                self.reuse_key(admin).await;
                "reuse key"
            }
            8..40 => {
                self.pay_one(sim);
                "pay"
            }
            40..48 => {
                self.pay_multi_op(sim);
                "multi-op"
            }
            48..54 => {
                self.pay_duplicates(sim);
                "duplicates in one ledger"
            }
            54..60 => {
                self.pay_stray(sim);
                "unknown reference"
            }
            60..65 => {
                self.pay_wrong_asset(sim);
                "wrong asset"
            }
            65..70 => {
                self.pay_hostile(sim);
                "hostile memo"
            }
            70..74 => {
                self.not_credits(sim);
                "not credits"
            }
            74..86 => {
                self.report(sim, admin, true).await;
                "report"
            }
            86..92 => {
                self.report(sim, admin, false).await;
                "report a hash that never lands"
            }
            _ => {
                self.cancel_and_pay_late(sim, admin).await;
                "cancel, then pay late"
            }
        }
    }

    fn key(&mut self, what: &str) -> String {
        self.next_key += 1;
        format!("{what}-{}", self.next_key)
    }

    fn create_body(&self, amount: i64, asset: &Asset) -> Value {
        json!({
            "amount": format!("{}.{:07}", amount / 10_000_000, amount % 10_000_000),
            "asset": asset.to_string(),
            "expires_in": 3600,
        })
    }

    async fn create(&mut self, admin: &Admin) {
        let amount = self.rng.random_range(1..50) * 10_000_000
            + if self.rng.random_bool(0.3) {
                self.rng.random_range(1..10_000_000)
            } else {
                0
            };
        let asset = if self.rng.random_bool(0.3) {
            self.usdc.clone()
        } else {
            Asset::Native
        };
        let key = self.key("create");
        let body = self.create_body(amount, &asset);
        match admin.post("/v1/sessions", &key, &body).await {
            Answer::Got(r) if r.status == 201 || r.status == 200 => {
                let v = r.json().unwrap();
                let id = v["id"].as_str().unwrap().to_owned();
                let reference = v["reference"].as_str().unwrap().parse().unwrap();
                self.record.answered_keys.insert(key.clone(), id.clone());
                self.sessions.push(Session {
                    id,
                    reference,
                    amount,
                    asset,
                    key,
                    paid: 0,
                });
            }
            Answer::Got(r) => self.record.wrong_answers.push(format!(
                "POST /v1/sessions {key}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            )),
            Answer::GaveUp(_) => {
                self.record.abandoned_keys.insert(key);
            }
        }
    }

    /// The same key and body again: the same session, never a second one.
    async fn retry_create(&mut self, admin: &Admin) {
        let s = self.sessions[self.rng.random_range(0..self.sessions.len())].clone();
        let body = self.create_body(s.amount, &s.asset);
        if let Answer::Got(r) = admin.post("/v1/sessions", &s.key, &body).await {
            let same = r.status == 200 && r.json().is_some_and(|v| v["id"] == s.id.as_str());
            if !same {
                self.record.wrong_answers.push(format!(
                    "a retried key {} answered {} {} instead of session {}",
                    s.key,
                    r.status,
                    String::from_utf8_lossy(&r.body),
                    s.id
                ));
            }
        }
    }

    /// A used key with another body: refused (422), nothing created.
    async fn reuse_key(&mut self, admin: &Admin) {
        let s = self.sessions[self.rng.random_range(0..self.sessions.len())].clone();
        let body = self.create_body(s.amount + 1, &s.asset);
        if let Answer::Got(r) = admin.post("/v1/sessions", &s.key, &body).await
            && r.status != 422
        {
            self.record.wrong_answers.push(format!(
                "key {} reused with another body answered {} {}",
                s.key,
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
    }

    fn close(&mut self, sim: &HorizonSim, txs: Vec<(Tx, OpCredits)>) -> ClosedLedger {
        let (txs, credits): (Vec<Tx>, Vec<_>) = txs.into_iter().unzip();
        let successful: Vec<bool> = txs.iter().map(|t| t.successful).collect();
        let closed = sim.close_ledger(txs);
        self.record
            .closed
            .insert(closed.sequence, closed_at_secs(&closed));
        for ((tx, ops), ok) in closed.txs.iter().zip(credits).zip(successful) {
            for (op_id, credit) in tx.op_ids.iter().zip(ops) {
                match credit {
                    Some((amount, what)) if ok => {
                        self.record.credits.insert(
                            *op_id,
                            Credit {
                                tx_hash: tx.hash.clone(),
                                ledger: closed.sequence,
                                amount,
                                what,
                            },
                        );
                    }
                    _ => {
                        self.record.ignored.insert(*op_id);
                    }
                }
            }
        }
        if let Some(p) = &self.published {
            p.send_replace(self.record.clone());
        }
        closed
    }

    fn pick(&mut self) -> usize {
        // Recent sessions more often: they are the ones still open.
        let n = self.sessions.len();
        let recent = n.saturating_sub(8);
        if self.rng.random_bool(0.7) {
            self.rng.random_range(recent..n)
        } else {
            self.rng.random_range(0..n)
        }
    }

    /// Full, short or over: mostly what is left, sometimes half of it, sometimes more.
    fn amount_for(&mut self, s: usize) -> i64 {
        let left = (self.sessions[s].amount - self.sessions[s].paid).max(1);
        match self.rng.random_range(0..10) {
            0..6 => left,
            6..9 => (left / 2).max(1),
            _ => left + self.rng.random_range(1..10_000_000),
        }
    }

    /// One credit to session `s` of `amount`, in one of the ways a wallet can pay.
    fn credit_tx(&mut self, s: usize, amount: i64, asset: Asset) -> (Tx, &'static str) {
        let reference = self.sessions[s].reference;
        let (payer, shop) = (self.payer, self.shop);
        let muxed = MuxedAccount::new(shop, reference);
        let native = Asset::Native;
        match self.rng.random_range(0..6) {
            0 => (
                Tx::new(payer).op(Op::payment(payer, muxed, asset, stroops(amount))),
                "muxed payment",
            ),
            1 => (
                Tx::new(payer).memo_id(reference).op(Op::payment(
                    payer,
                    shop,
                    asset,
                    stroops(amount),
                )),
                "memo id payment",
            ),
            2 => (
                Tx::new(payer)
                    .memo_text(reference.to_string())
                    .op(Op::payment(payer, shop, asset, stroops(amount))),
                "text memo payment",
            ),
            3 => (
                Tx::new(payer).op(Op::path_payment_strict_receive(
                    payer,
                    muxed,
                    asset,
                    stroops(amount),
                    native,
                    stroops(amount * 2),
                )),
                "path payment strict receive",
            ),
            4 => (
                Tx::new(payer)
                    .memo_id(reference)
                    .op(Op::path_payment_strict_send(
                        payer,
                        shop,
                        native,
                        stroops(amount + 7),
                        asset,
                        stroops(amount),
                    )),
                "path payment strict send",
            ),
            _ => (
                Tx::new(payer).op(Op::sac_transfer(payer, muxed, asset, stroops(amount))),
                "SAC transfer",
            ),
        }
    }

    fn pay_one(&mut self, sim: &HorizonSim) -> ClosedLedger {
        let s = self.pick();
        let amount = self.amount_for(s);
        let asset = self.sessions[s].asset.clone();
        let (tx, what) = self.credit_tx(s, amount, asset);
        self.sessions[s].paid += amount;
        self.close(sim, vec![(tx, vec![Some((amount, what))])])
    }

    /// Two or three payment operations to one session in one transaction, beside an
    /// operation that is not a payment.
    fn pay_multi_op(&mut self, sim: &HorizonSim) {
        let s = self.pick();
        let total = self.amount_for(s);
        let parts = self.rng.random_range(2..=3i64);
        let muxed = MuxedAccount::new(self.shop, self.sessions[s].reference);
        let asset = self.sessions[s].asset.clone();
        let mut tx = Tx::new(self.payer);
        let mut credits = Vec::new();
        let mut left = total;
        for i in 0..parts {
            let a = if i == parts - 1 {
                left
            } else {
                (total / parts).max(1)
            };
            left -= a;
            if a <= 0 {
                break;
            }
            tx = tx.op(Op::payment(self.payer, muxed, asset.clone(), stroops(a)));
            credits.push(Some((a, "multi-op payment")));
        }
        tx = tx.op(Op::manage_data(self.payer, "e2e"));
        credits.push(None);
        self.sessions[s].paid += total - left.max(0);
        self.close(sim, vec![(tx, credits)]);
    }

    /// The same session paid in full twice in one ledger (the second is `already_paid`).
    fn pay_duplicates(&mut self, sim: &HorizonSim) {
        let s = self.pick();
        let amount = self.amount_for(s);
        let asset = self.sessions[s].asset.clone();
        let (a, wa) = self.credit_tx(s, amount, asset.clone());
        let (b, wb) = self.credit_tx(s, amount, asset);
        self.sessions[s].paid += 2 * amount;
        self.close(
            sim,
            vec![(a, vec![Some((amount, wa))]), (b, vec![Some((amount, wb))])],
        );
    }

    /// To a reference no session has, or with no reference at all.
    fn pay_stray(&mut self, sim: &HorizonSim) {
        let amount = self.rng.random_range(1..100_000_000);
        let tx = if self.rng.random_bool(0.5) {
            let unknown = self.rng.random::<u64>();
            Tx::new(self.payer).op(Op::payment(
                self.payer,
                MuxedAccount::new(self.shop, unknown),
                Asset::Native,
                stroops(amount),
            ))
        } else {
            Tx::new(self.payer).op(Op::payment(
                self.payer,
                self.shop,
                Asset::Native,
                stroops(amount),
            ))
        };
        self.close(sim, vec![(tx, vec![Some((amount, "stray payment"))])]);
    }

    fn pay_wrong_asset(&mut self, sim: &HorizonSim) {
        let s = self.pick();
        let amount = self.sessions[s].amount;
        let other = match self.sessions[s].asset {
            Asset::Native => self.usdc.clone(),
            _ => Asset::Native,
        };
        let (tx, _) = self.credit_tx(s, amount, other);
        self.close(sim, vec![(tx, vec![Some((amount, "wrong asset"))])]);
    }

    /// Text memos with a NUL and invalid UTF-8 (Horizon scrubs them from `memo`; the matcher
    /// reads `memo_bytes`), one of them a session's reference followed by a NUL.
    fn pay_hostile(&mut self, sim: &HorizonSim) {
        let s = self.pick();
        let mut near = self.sessions[s].reference.to_string().into_bytes();
        near.push(0);
        let memos: [Vec<u8>; 3] = [near, b"\xff\xfe\x00order".to_vec(), vec![0; 28]];
        let bytes = memos[self.rng.random_range(0..memos.len())].clone();
        let amount = self.rng.random_range(1..100_000_000);
        let tx = Tx::new(self.payer)
            .memo(Memo::text(bytes).unwrap())
            .op(Op::payment(
                self.payer,
                self.shop,
                Asset::Native,
                stroops(amount),
            ));
        self.close(sim, vec![(tx, vec![Some((amount, "hostile memo"))])]);
    }

    /// Records on the shop's stream that credit nothing: an outgoing payment and a failed
    /// incoming one. They must appear nowhere.
    fn not_credits(&mut self, sim: &HorizonSim) {
        let s = self.pick();
        let amount = self.sessions[s].amount;
        let asset = self.sessions[s].asset.clone();
        let out = Tx::new(self.shop).op(Op::payment(
            self.shop,
            self.payer,
            Asset::Native,
            stroops(1_000),
        ));
        let (failed, _) = self.credit_tx(s, amount, asset);
        self.close(sim, vec![(out, vec![None]), (failed.failed(), vec![None])]);
    }

    /// The wallet reports its transaction's hash: one that landed (the stream may have settled
    /// it already), or one that never will.
    async fn report(&mut self, sim: &HorizonSim, admin: &Admin, lands: bool) {
        let s = self.pick();
        let hash = if lands {
            self.pay_one_to(sim, s).txs[0].hash.clone()
        } else {
            self.phantom_hash()
        };
        self.report_hash(admin, s, &hash).await;
    }

    fn pay_one_to(&mut self, sim: &HorizonSim, s: usize) -> ClosedLedger {
        let amount = self.amount_for(s);
        let asset = self.sessions[s].asset.clone();
        let reference = self.sessions[s].reference;
        let tx = Tx::new(self.payer).op(Op::payment(
            self.payer,
            MuxedAccount::new(self.shop, reference),
            asset,
            stroops(amount),
        ));
        self.sessions[s].paid += amount;
        self.close(sim, vec![(tx, vec![Some((amount, "reported payment"))])])
    }

    /// The merchant cancels a session, then the customer pays it anyway (late).
    async fn cancel_and_pay_late(&mut self, sim: &HorizonSim, admin: &Admin) {
        let s = self.pick();
        let path = format!("/v1/sessions/{}/cancel", self.sessions[s].id);
        let key = self.key("cancel");
        match admin.post(&path, &key, &json!({})).await {
            Answer::Got(r) if r.status < 300 || r.status == 409 => {}
            Answer::Got(r) => self.record.wrong_answers.push(format!(
                "cancel {}: {} {}",
                self.sessions[s].id,
                r.status,
                String::from_utf8_lossy(&r.body)
            )),
            Answer::GaveUp(_) => {}
        }
        self.pay_one_to(sim, s);
    }

    /// A payment to session `s` that the streams leave out (REST pages still serve it), so
    /// only its client report (or recovery) settles it; returns its hash.
    pub fn pay_unstreamed(&mut self, sim: &HorizonSim, s: usize) -> String {
        sim.skip_in_streams(toid::encode(sim.latest_ledger() + 1, 1, 1));
        self.pay_one_to(sim, s).txs[0].hash.clone()
    }

    /// A random hash no transaction has.
    pub fn phantom_hash(&mut self) -> String {
        (0..4)
            .map(|_| format!("{:016x}", self.rng.random::<u64>()))
            .collect()
    }

    /// The wallet reports `hash` for session `s`.
    pub async fn report_hash(&mut self, admin: &Admin, s: usize, hash: &str) {
        let key = self.key("report");
        let path = format!("/v1/sessions/{}/payments", self.sessions[s].id);
        self.record.reports += 1;
        match admin.post(&path, &key, &json!({ "tx_hash": hash })).await {
            // 409: the session is closed or claimed by another transaction; both are answers.
            Answer::Got(r) if r.status < 300 || r.status == 409 => {}
            Answer::Got(r) => self.record.wrong_answers.push(format!(
                "report {hash} for {}: {} {}",
                self.sessions[s].id,
                r.status,
                String::from_utf8_lossy(&r.body)
            )),
            Answer::GaveUp(_) => {
                self.record.abandoned_keys.insert(key);
            }
        }
    }

    /// A session created now (so open, and claimed by nothing yet); `None` if the create
    /// got no answer.
    pub async fn new_session(&mut self, admin: &Admin) -> Option<usize> {
        let n = self.sessions.len();
        self.create(admin).await;
        (self.sessions.len() > n).then_some(n)
    }

    /// An open session (never paid by this workload), creating one if there is none.
    pub async fn open_session(&mut self, admin: &Admin) -> Option<usize> {
        if !self.sessions.iter().any(|s| s.paid == 0) {
            self.create(admin).await;
        }
        self.sessions.iter().rposition(|s| s.paid == 0)
    }

    /// A last payment, to no session, that the checker waits for: once it is handled the
    /// stream has read everything before it.
    pub fn close_marker(&mut self, sim: &HorizonSim) -> i64 {
        let tx = Tx::new(self.payer).op(Op::payment(
            self.payer,
            self.shop,
            Asset::Native,
            stroops(1),
        ));
        let closed = self.close(sim, vec![(tx, vec![Some((1, "marker"))])]);
        closed.txs[0].op_ids[0]
    }
}
