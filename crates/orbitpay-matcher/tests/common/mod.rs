//! Shared fixtures: a fresh database, a matcher, and hand-built ledger records.
#![allow(dead_code)]

use std::sync::Arc;

use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use orbitpay_core::{
    AccountId, Address, Amount, Asset, LedgerRecord, Memo, MuxedAccount, Operation, Reference,
    TransferKind, TxHash, toid,
};
use orbitpay_horizon::{FetchedRecord, HorizonConfig, HorizonSource, LedgerSource};
use orbitpay_horizon_sim::HorizonSim;
use orbitpay_matcher::{Matcher, MatcherConfig};
use orbitpay_store::Session;
use orbitpay_store::models::NewSession;
use orbitpay_testkit::TestDb;

pub struct Fixture {
    pub db: TestDb,
    pub matcher: Arc<Matcher>,
    pub sim: HorizonSim,
    pub server: orbitpay_horizon_sim::ServerHandle,
    pub account: AccountId,
}

pub fn account(n: u8) -> AccountId {
    AccountId::from_bytes([n; 32])
}

pub const MERCHANT: u8 = 1;
pub const PAYER: u8 = 2;

pub fn usdc(issuer: u8) -> Asset {
    Asset::Credit {
        code: "USDC".parse().unwrap(),
        issuer: account(issuer),
    }
}

pub fn amount(s: &str) -> Amount {
    s.parse().unwrap()
}

pub fn hash(n: u64) -> TxHash {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&n.to_be_bytes());
    b[31] = 0xaa;
    TxHash::from_bytes(b)
}

impl Fixture {
    pub async fn new() -> Fixture {
        Self::with_config(MatcherConfig::default()).await
    }

    pub async fn with_config(config: MatcherConfig) -> Fixture {
        Self::build(config, None).await
    }

    /// A matcher whose transaction lookups go to `source` instead of the simulator.
    pub async fn with_source(config: MatcherConfig, source: Arc<dyn LedgerSource>) -> Fixture {
        Self::build(config, Some(source)).await
    }

    async fn build(config: MatcherConfig, source: Option<Arc<dyn LedgerSource>>) -> Fixture {
        let db = TestDb::new().await;
        let sim = HorizonSim::with_seed(7);
        let server = sim.serve("127.0.0.1:0").await.unwrap();
        let mut cfg = HorizonConfig::new(server.base_url().parse().unwrap());
        cfg.request_timeout = std::time::Duration::from_secs(5);
        let source: Arc<dyn LedgerSource> =
            source.unwrap_or_else(|| Arc::new(HorizonSource::new(cfg).unwrap()));
        let matcher = Matcher::new(db.pool(), source, config);
        Fixture {
            db,
            matcher,
            sim,
            server,
            account: account(MERCHANT),
        }
    }

    pub async fn session(&self, asset: Asset, due: &str, reference: u64) -> Session {
        let mut conn = self.db.conn().await;
        let new = NewSession {
            account: self.account,
            asset,
            amount: amount(due),
            expires_at: chrono::Utc::now() + chrono::Duration::minutes(15),
            metadata: serde_json::json!({}),
            order_id: None,
            webhook_url: None,
        };
        orbitpay_store::sessions::insert_with_reference(&mut conn, &new, Reference(reference))
            .await
            .unwrap()
    }

    pub async fn reload(&self, s: &Session) -> Session {
        let mut conn = self.db.conn().await;
        orbitpay_store::sessions::find(&mut conn, s.id)
            .await
            .unwrap()
            .unwrap()
    }

    /// Hands records to the matcher as one batch whose cursor is the last record's op id.
    pub async fn handle(&self, records: &[LedgerRecord]) {
        let up_to = records.last().map(|r| r.op_id).unwrap_or(1);
        self.handle_up_to(records, up_to).await
    }

    pub async fn handle_up_to(&self, records: &[LedgerRecord], up_to: i64) {
        let fetched: Vec<FetchedRecord> = records.iter().cloned().map(Ok).collect();
        self.matcher
            .handle(&self.account, &fetched, up_to)
            .await
            .unwrap();
    }

    pub async fn cursor(&self) -> Option<i64> {
        let mut conn = self.db.conn().await;
        orbitpay_store::cursors::get(&mut conn, &self.account)
            .await
            .unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.db.count(sql).await
    }

    pub async fn exec(&self, sql: &str) {
        self.db.exec(sql).await
    }

    /// Everything that matters about money, as canonical JSON, without ids and timestamps (the
    /// cursor is compared on its own).
    pub async fn snapshot(&self) -> String {
        #[derive(QueryableByName)]
        struct S {
            #[diesel(sql_type = diesel::sql_types::Text)]
            s: String,
        }
        let sql = r#"SELECT json_build_object(
            'sessions', (SELECT json_agg(json_build_object('ref', reference::text, 'status', status::text,
                          'received', amount_received, 'claim', processing_tx_hash) ORDER BY reference) FROM sessions),
            'payments', (SELECT json_agg(json_build_object('tx', p.tx_hash, 'ref', s.reference::text, 'amount', p.amount)
                          ORDER BY p.tx_hash, s.reference) FROM payments p JOIN sessions s ON s.id = p.session_id),
            'ops', (SELECT json_agg(json_build_object('op', o.op_id, 'amount', o.amount, 'tx', p.tx_hash) ORDER BY o.op_id)
                          FROM payment_operations o JOIN payments p ON p.id = o.payment_id),
            'unmatched', (SELECT json_agg(json_build_object('op', u.op_id, 'reason', u.reason::text, 'amount', u.amount::text,
                          'ref', s.reference::text) ORDER BY u.op_id)
                          FROM unmatched_payments u LEFT JOIN sessions s ON s.id = u.session_id),
            'events', (SELECT json_agg(json_build_object('type', event_type, 'ref', s.reference::text) ORDER BY e.event_type, s.reference)
                          FROM outbox_events e LEFT JOIN sessions s ON s.id = e.session_id)
        )::text AS s"#;
        let mut conn = self.db.conn().await;
        diesel::sql_query(sql)
            .get_result::<S>(&mut conn)
            .await
            .unwrap()
            .s
    }
}

/// A record paying `to` in transaction `tx` (ledger 100 + tx, op `index`).
pub fn pay(tx: u64, index: u32, to: Address, asset: Asset, amt: &str, memo: Memo) -> LedgerRecord {
    transfer(
        tx,
        index,
        TransferKind::Payment,
        account(PAYER).into(),
        to,
        asset,
        amt,
        memo,
    )
}

#[allow(clippy::too_many_arguments)]
pub fn transfer(
    tx: u64,
    index: u32,
    kind: TransferKind,
    from: Address,
    to: Address,
    asset: Asset,
    amt: &str,
    memo: Memo,
) -> LedgerRecord {
    record(
        tx,
        index,
        memo,
        Operation::Transfer {
            kind,
            from,
            to,
            asset,
            amount: amount(amt),
        },
    )
}

pub fn record(tx: u64, index: u32, memo: Memo, operation: Operation) -> LedgerRecord {
    let ledger = 100 + u32::try_from(tx).unwrap();
    LedgerRecord {
        op_id: toid::encode(ledger, 1, index),
        tx_hash: hash(tx),
        inner_tx_hash: None,
        ledger,
        closed_at: None,
        successful: true,
        memo,
        operation,
        raw: None,
    }
}

pub fn muxed(reference: u64) -> Address {
    Address::Muxed(MuxedAccount::new(account(MERCHANT), reference))
}

pub fn merchant() -> Address {
    Address::Account(account(MERCHANT))
}
