//! Shared by the job tests: a fresh database, the Horizon simulator behind a real
//! `HorizonSource`, sessions, payments on the simulated ledger, and claims back-dated through
//! the database's clock.
#![allow(dead_code)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use metrics_exporter_prometheus::PrometheusHandle;
use orbitpay_core::{AccountId, Asset, MuxedAccount, Reference, TxHash};
use orbitpay_horizon::{FetchedRecord, HorizonConfig, HorizonSource, LedgerSource, TxLookup};
use orbitpay_horizon_sim::{HorizonSim, Op, ServerHandle, Tx, derive_account, stroops};
use orbitpay_matcher::{Matcher, MatcherConfig};
use orbitpay_store::Session;
use orbitpay_store::models::NewSession;
use orbitpay_testkit::TestDb;

pub struct Env {
    pub db: TestDb,
    pub sim: HorizonSim,
    pub server: ServerHandle,
    pub source: Arc<dyn LedgerSource>,
    pub matcher: Arc<Matcher>,
    pub shop: AccountId,
    pub payer: AccountId,
}

impl Env {
    pub async fn new() -> Env {
        let db = TestDb::new().await;
        let sim = HorizonSim::with_seed(11);
        let (shop, payer) = (derive_account(11, 0), derive_account(11, 1));
        sim.register_account(shop);
        sim.register_account(payer);
        let server = sim.serve("127.0.0.1:0").await.unwrap();
        let mut cfg = HorizonConfig::new(server.base_url().parse().unwrap());
        cfg.request_timeout = Duration::from_secs(5);
        let source: Arc<dyn LedgerSource> = Arc::new(HorizonSource::new(cfg).unwrap());
        let matcher = Matcher::new(db.pool(), source.clone(), MatcherConfig::default());
        Env {
            db,
            sim,
            server,
            source,
            matcher,
            shop,
            payer,
        }
    }

    /// A pending session of the shop for `stroops_due`, expiring in 15 minutes.
    pub async fn session(&self, reference: u64, stroops_due: i64) -> Session {
        let mut conn = self.db.conn().await;
        let new = NewSession {
            account: self.shop,
            asset: Asset::Native,
            amount: stroops(stroops_due),
            expires_at: chrono::Utc::now() + chrono::Duration::minutes(15),
            metadata: serde_json::json!({}),
            order_id: None,
            webhook_url: None,
        };
        orbitpay_store::sessions::insert_with_reference(&mut conn, &new, Reference(reference))
            .await
            .unwrap()
    }

    /// Closes a ledger with one payment of `amount` stroops to the session's muxed address;
    /// returns the transaction's hash.
    pub fn pay(&self, reference: u64, amount: i64) -> TxHash {
        let closed = self
            .sim
            .close_ledger(vec![Tx::new(self.payer).op(Op::payment(
                self.payer,
                MuxedAccount::new(self.shop, reference),
                Asset::Native,
                stroops(amount),
            ))]);
        TxHash::from_str(&closed.txs[0].hash).unwrap()
    }

    /// Claims the session under `hash` as a client report would, `age` ago by the database's
    /// clock (an interval, e.g. `'6 minutes'`).
    pub async fn claim(&self, session: &Session, hash: TxHash, age: &str) {
        let mut conn = self.db.conn().await;
        let claimed = orbitpay_store::settlement::claim_reported(&mut conn, session.id, hash)
            .await
            .unwrap();
        assert!(matches!(
            claimed,
            orbitpay_store::settlement::ReportClaim::Claimed(_)
        ));
        conn.batch_execute(&format!(
            "UPDATE sessions SET processing_started_at = now() - interval '{age}' WHERE id = '{}'",
            session.id
        ))
        .await
        .unwrap();
    }

    /// The transaction's records, as the stream would deliver them.
    pub async fn records_of(&self, hash: TxHash) -> Vec<FetchedRecord> {
        let TxLookup::Confirmed { records, .. } = self.source.lookup_transaction(&hash).await
        else {
            panic!("the simulator knows {hash}");
        };
        records.into_iter().map(Ok).collect()
    }

    pub async fn reload(&self, s: &Session) -> Session {
        let mut conn = self.db.conn().await;
        orbitpay_store::sessions::find(&mut conn, s.id)
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.db.count(sql).await
    }

    pub async fn exec(&self, sql: &str) {
        self.db.exec(sql).await
    }

    pub async fn events(&self, session: &Session, event_type: &str) -> i64 {
        self.count(&format!(
            "SELECT count(*) FROM outbox_events WHERE session_id = '{}' AND event_type = '{event_type}'",
            session.id
        ))
        .await
    }

    /// Every event written, in commit order: (type, payload).
    pub async fn all_events(&self) -> Vec<(String, serde_json::Value)> {
        let mut conn = self.db.conn().await;
        orbitpay_store::outbox::list_after(&mut conn, 0, 10_000)
            .await
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|e| (e.event_type, e.payload))
            .collect()
    }

    pub async fn payments(&self, session: &Session) -> i64 {
        self.count(&format!(
            "SELECT count(*) FROM payments WHERE session_id = '{}'",
            session.id
        ))
        .await
    }
}

/// The sum of every series of `name` whose labels include `label` (`decision="credited_paid"`).
pub fn counter(handle: &PrometheusHandle, name: &str, label: &str) -> u64 {
    handle
        .render()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let labels = series.strip_prefix(name)?;
            (labels.starts_with('{') && labels.contains(label))
                .then(|| value.parse::<u64>().ok())?
        })
        .sum()
}
