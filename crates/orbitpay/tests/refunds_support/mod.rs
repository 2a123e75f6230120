//! The refund tests' world: the admin socket on a real database, the simulated ledger behind
//! the daemon's Horizon source (with [`Landing`] able to confirm a signed envelope), the real
//! matcher crediting payments, and the helpers that make the money to refund.
#![allow(dead_code)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::admin_support::*;
use orbitpay::admin::{ReportError, ReportOutcome, TxReporter};
use orbitpay_core::{AccountId, Address, Asset, MuxedAccount, TxHash};
use orbitpay_horizon::{HorizonConfig, HorizonSource, LedgerSource};
use orbitpay_horizon_sim::{HorizonSim, Op, ServerHandle, Tx, derive_account, stroops};
use orbitpay_matcher::{Matcher, MatcherConfig};
use serde_json::{Value, json};
use uuid::Uuid;

pub struct Reporter(pub Arc<Matcher>);

#[async_trait::async_trait]
impl TxReporter for Reporter {
    async fn report_tx(
        &self,
        session_id: Uuid,
        tx_hash: TxHash,
        wait: Duration,
    ) -> Result<ReportOutcome, ReportError> {
        self.0.report_tx(session_id, tx_hash, wait).await
    }
}

/// The daemon's Horizon source, except that the transactions in `landed` are confirmed: what
/// the ledger would answer once a signed envelope landed (the simulator only holds the
/// transactions it made itself).
pub struct Landing {
    pub inner: Arc<dyn LedgerSource>,
    pub landed: std::sync::Mutex<Vec<TxHash>>,
}

#[async_trait::async_trait]
impl LedgerSource for Landing {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn root(&self) -> Result<orbitpay_horizon::RootInfo, orbitpay_horizon::SourceError> {
        self.inner.root().await
    }
    async fn payments_page(
        &self,
        account: &AccountId,
        cursor: i64,
        limit: u32,
    ) -> Result<orbitpay_horizon::PaymentsPage, orbitpay_horizon::SourceError> {
        self.inner.payments_page(account, cursor, limit).await
    }
    async fn stream_payments(
        &self,
        account: &AccountId,
        cursor: i64,
    ) -> Result<orbitpay_horizon::EventStream, orbitpay_horizon::SourceError> {
        self.inner.stream_payments(account, cursor).await
    }
    async fn lookup_transaction(&self, hash: &TxHash) -> orbitpay_horizon::TxLookup {
        if self.landed.lock().unwrap().contains(hash) {
            return orbitpay_horizon::TxLookup::Confirmed {
                ledger: 7,
                records: Vec::new(),
            };
        }
        self.inner.lookup_transaction(hash).await
    }
    async fn account(&self, account: &AccountId) -> orbitpay_horizon::AccountLookup {
        self.inner.account(account).await
    }
    async fn ledger_closed_at(&self, sequence: u32) -> Result<i64, orbitpay_horizon::SourceError> {
        self.inner.ledger_closed_at(sequence).await
    }
}

pub struct Env {
    pub h: Harness,
    pub sim: HorizonSim,
    pub _server: ServerHandle,
    pub matcher: Arc<Matcher>,
    pub source: Arc<dyn LedgerSource>,
    pub ledger: Arc<Landing>,
    pub shop: AccountId,
    /// An account that exists on the ledger with XLM (and no trustline).
    pub payer: AccountId,
}

pub fn usdc() -> Asset {
    USDC.parse().unwrap()
}

pub async fn env(seed: u64) -> Env {
    let sim = HorizonSim::with_seed(seed);
    let shop: AccountId = ACCOUNT.parse().unwrap();
    let payer = derive_account(seed, 1);
    sim.set_native_balance(shop, stroops(10_000_000_000));
    sim.set_native_balance(payer, stroops(1_000_000_000));
    let server = sim.serve("127.0.0.1:0").await.unwrap();
    let mut cfg = HorizonConfig::new(server.base_url().parse().unwrap());
    cfg.request_timeout = Duration::from_secs(5);
    let source: Arc<dyn LedgerSource> = Arc::new(HorizonSource::new(cfg).unwrap());
    let ledger = Arc::new(Landing {
        inner: source.clone(),
        landed: Default::default(),
    });
    let mut matcher = None;
    let h = Harness::start_with(|_, state| {
        let m = Matcher::new(state.pool.clone(), source.clone(), MatcherConfig::default());
        state.reporter = Arc::new(Reporter(m.clone()));
        state.source = Some(ledger.clone());
        matcher = Some(m);
    })
    .await;
    Env {
        h,
        sim,
        _server: server,
        matcher: matcher.unwrap(),
        source,
        ledger,
        shop,
        payer,
    }
}

impl Env {
    /// A session of `price` (decimal) in `asset`, paid `paid` stroops by `from` in one
    /// transaction reported by the client and settled by the matcher: (session id, tx hash).
    pub async fn paid_session(
        &self,
        key: &str,
        price: &str,
        asset: &str,
        from: Address,
        paid: i64,
    ) -> (String, String) {
        let r = self
            .h
            .post(
                "/v1/sessions",
                Some(key),
                &format!(r#"{{"amount":"{price}","asset":"{asset}"}}"#),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let session = body_json(&r);
        let id = session["id"].as_str().unwrap().to_owned();
        let reference = u64::from_str(session["reference"].as_str().unwrap()).unwrap();
        let closed = self.sim.close_ledger(vec![Tx::new(from).op(Op::payment(
            from,
            MuxedAccount::new(self.shop, reference),
            asset.parse().unwrap(),
            stroops(paid),
        ))]);
        let hash = closed.txs[0].hash.clone();
        let r = self
            .h
            .post(
                &format!("/v1/sessions/{id}/payments"),
                Some(&format!("report-{key}")),
                &format!(r#"{{"tx_hash":"{hash}"}}"#),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(body_json(&r)["outcome"], "settled");
        (id, hash)
    }

    /// A payment to the shop naming no session, recorded as unmatched through reconciliation's
    /// path (the source's page, the matcher's idempotent settle): (unmatched id, tx hash).
    pub async fn unmatched(&self, from: AccountId, asset: Asset, amount: i64) -> (i64, String) {
        let closed = self.sim.close_ledger(vec![Tx::new(from).op(Op::payment(
            from,
            self.shop,
            asset,
            stroops(amount),
        ))]);
        let hash = closed.txs[0].hash.clone();
        let page = self.source.payments_page(&self.shop, 0, 200).await.unwrap();
        let records: Vec<_> = page
            .records
            .into_iter()
            .map(Result::unwrap)
            .filter(|r| r.tx_hash.to_string() == hash)
            .collect();
        assert_eq!(records.len(), 1);
        self.matcher
            .settle_again(&self.shop, &records)
            .await
            .unwrap();
        let id = self
            .h
            .db
            .count(&format!(
                "SELECT id FROM unmatched_payments WHERE tx_hash = '{hash}'"
            ))
            .await;
        (id, hash)
    }

    pub async fn refund(&self, key: &str, body: Value) -> orbitpay_cli::ApiResponse {
        self.h
            .post("/v1/refunds", Some(key), &body.to_string())
            .await
    }

    pub async fn created(&self, key: &str, body: Value) -> Value {
        let r = self.refund(key, body).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        body_json(&r)
    }

    pub fn shop_sequence(&self) -> i64 {
        self.sim.account_sequence(&self.shop).unwrap()
    }

    /// The shop sends a transaction of its own: its sequence number moves on.
    pub fn shop_sends_something(&self) {
        let someone = derive_account(99, 99);
        self.sim
            .close_ledger(vec![Tx::new(self.shop).op(Op::payment(
                self.shop,
                someone,
                Asset::Native,
                stroops(1),
            ))]);
    }
}

pub fn unix(ts: &Value) -> u64 {
    chrono::DateTime::parse_from_rfc3339(ts.as_str().unwrap())
        .unwrap()
        .timestamp() as u64
}

/// What the SDK reads of a refund the API prepared, checked field by field against the view
/// and what was asked; returns the operation it read.
pub fn judged(refund: &Value, shop: &AccountId, memo: Value) -> Value {
    let seen = crate::stellar_sdk_support::judge(
        refund["envelope_xdr"].as_str().unwrap(),
        refund["sep7_uri"].as_str().unwrap(),
        crate::stellar_sdk_support::TESTNET,
    )
    .unwrap();
    let envelope = &seen["envelope"];
    assert_eq!(envelope["source"], shop.to_string());
    assert_eq!(envelope["sequence"], refund["sequence"]);
    assert_eq!(envelope["fee"], 10_000, "refunds.max_fee's default");
    assert_eq!(envelope["min_time"], 0);
    assert_eq!(envelope["max_time"], unix(&refund["valid_until"]));
    assert_eq!(envelope["memo"], memo);
    assert_eq!(envelope["signatures"], 0);
    assert_eq!(seen["uri"]["envelope"], *envelope);
    assert_eq!(seen["uri"]["same_xdr"], true);
    assert_eq!(
        seen["uri"]["network_passphrase"],
        crate::stellar_sdk_support::TESTNET
    );
    assert!(
        seen["uri"]["msg"]
            .as_str()
            .unwrap()
            .starts_with("Refund of"),
        "{seen}"
    );
    let ops = envelope["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1);
    ops[0].clone()
}

pub fn memo_return(hash: &str) -> Value {
    json!({"type": "return", "hex": hash})
}
