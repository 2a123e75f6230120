//! Network mode's routed batches: every watched account's records settled as its own stream's
//! batch would be, in one transaction with the network cursor; each covered account's cursor
//! moved with it, an account in handover's left to its own catch-up; a redelivery a no-op.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use common::{Fixture, account};
use orbitpay_core::{AccountId, Asset, MuxedAccount, Reference, SessionStatus};
use orbitpay_horizon::{
    FetchedRecord, HorizonConfig, HorizonSource, LedgerSource, NetworkSink, Phase, RoutedBatch,
    recipients,
};
use orbitpay_horizon_sim::{Op, Tx, stroops};
use orbitpay_matcher::Handover;
use orbitpay_store::Session;
use orbitpay_store::models::NewSession;
use tokio_util::sync::CancellationToken;

const SHOP_B: u8 = 3;
const SHOP_C: u8 = 4;
const STRANGER: u8 = 5;
const PAYER: u8 = 2;

async fn session(f: &Fixture, account: AccountId, reference: u64, due: i64) -> Session {
    let mut conn = f.db.conn().await;
    let new = NewSession {
        account,
        asset: Asset::Native,
        amount: stroops(due),
        expires_at: chrono::Utc::now() + chrono::Duration::minutes(15),
        metadata: serde_json::json!({}),
        order_id: None,
        webhook_url: None,
    };
    orbitpay_store::sessions::insert_with_reference(&mut conn, &new, Reference(reference))
        .await
        .unwrap()
}

/// The network's payments, routed by hand as the follower does: each record to every watched
/// account it pays.
async fn routed(f: &Fixture, watched: &HashSet<AccountId>) -> RoutedBatch {
    let mut cfg = HorizonConfig::new(f.server.base_url().parse().unwrap());
    cfg.request_timeout = Duration::from_secs(5);
    let source = HorizonSource::new(cfg).unwrap();
    let page = source.network_payments_page(0, 200).await.unwrap();
    let records: Vec<FetchedRecord> = page.records;
    let up_to = records.last().unwrap().as_ref().unwrap().op_id;
    let mut accounts: BTreeMap<AccountId, Vec<FetchedRecord>> = BTreeMap::new();
    for r in records {
        for a in recipients(r.as_ref().unwrap()) {
            if watched.contains(&a) {
                accounts.entry(a).or_default().push(r.clone());
            }
        }
    }
    RoutedBatch {
        accounts,
        unattributed: None,
        up_to,
        phase: Phase::CatchUp,
        watched: Arc::new(watched.clone()),
    }
}

async fn cursor(f: &Fixture, key: &str) -> Option<i64> {
    let sql = format!("SELECT paging_token FROM stream_cursors WHERE account = '{key}'");
    let n = f.count(&format!("SELECT count(*) FROM ({sql}) c")).await;
    if n == 0 {
        return None;
    }
    Some(f.count(&sql).await)
}

#[tokio::test]
async fn a_routed_batch_settles_every_account_and_moves_the_cursors_of_the_covered_ones() {
    let f = Fixture::new().await;
    let (a, b, c) = (f.account, account(SHOP_B), account(SHOP_C));
    let payer = account(PAYER);
    let sa = session(&f, a, 11, 300).await;
    let sb = session(&f, b, 12, 200).await;
    let sc = session(&f, c, 13, 100).await;
    // One contract call paying a and b (one record, routed to both), a payment to c, and one
    // to a stranger.
    f.sim.close_ledger(vec![Tx::new(payer).op(Op::sac_split(
        payer,
        Asset::Native,
        [
            (
                orbitpay_core::Address::Muxed(MuxedAccount::new(a, 11)),
                stroops(300),
            ),
            (
                orbitpay_core::Address::Muxed(MuxedAccount::new(b, 12)),
                stroops(200),
            ),
        ],
    ))]);
    f.sim.close_ledger(vec![
        Tx::new(payer)
            .memo_id(13)
            .op(Op::payment(payer, c, Asset::Native, stroops(100))),
        Tx::new(payer).op(Op::payment(
            payer,
            account(STRANGER),
            Asset::Native,
            stroops(7),
        )),
    ]);
    let watched: HashSet<AccountId> = [a, b, c].into();
    let batch = routed(&f, &watched).await;
    assert_eq!(batch.accounts.len(), 3, "{batch:?}");

    // c is being caught up on its own: the network settles what it routes to c, but leaves
    // c's cursor to its catch-up.
    let handover: Handover = Arc::new(RwLock::new([c].into()));
    let mut sink = f
        .matcher
        .routed_sink(handover.clone(), CancellationToken::new());
    sink.handle_routed(&batch).await.unwrap();

    for (s, due) in [(&sa, 300), (&sb, 200), (&sc, 100)] {
        let s = f.reload(s).await;
        assert_eq!(s.status, SessionStatus::Paid, "{s:?}");
        assert_eq!(s.amount_received, stroops(due));
    }
    assert_eq!(f.count("SELECT count(*) FROM payment_operations").await, 3);
    assert_eq!(cursor(&f, "network").await, Some(batch.up_to));
    assert_eq!(cursor(&f, &a.to_string()).await, Some(batch.up_to));
    assert_eq!(cursor(&f, &b.to_string()).await, Some(batch.up_to));
    assert_eq!(cursor(&f, &c.to_string()).await, None, "in handover");

    // Redelivered (a restart before the follower moved on): nothing more; c, caught up since,
    // now moves with the network.
    handover.write().unwrap().clear();
    sink.handle_routed(&batch).await.unwrap();
    assert_eq!(f.count("SELECT count(*) FROM payment_operations").await, 3);
    assert_eq!(f.count("SELECT count(*) FROM unmatched_payments").await, 0);
    assert_eq!(
        f.count("SELECT count(*) FROM outbox_events WHERE event_type = 'session.paid'")
            .await,
        3
    );
    assert_eq!(cursor(&f, &c.to_string()).await, Some(batch.up_to));
}

#[tokio::test]
async fn a_cursor_only_batch_writes_the_network_cursor_alone() {
    let f = Fixture::new().await;
    let payer = account(PAYER);
    f.sim.close_ledger(vec![Tx::new(payer).op(Op::payment(
        payer,
        account(STRANGER),
        Asset::Native,
        stroops(7),
    ))]);
    let watched: HashSet<AccountId> = HashSet::new();
    let batch = routed(&f, &watched).await;
    assert!(batch.is_cursor_only());
    let mut sink = f
        .matcher
        .routed_sink(Handover::default(), CancellationToken::new());
    sink.handle_routed(&batch).await.unwrap();
    assert_eq!(cursor(&f, "network").await, Some(batch.up_to));
    assert_eq!(f.count("SELECT count(*) FROM stream_cursors").await, 1);
    assert_eq!(f.count("SELECT count(*) FROM outbox_events").await, 0);
}
