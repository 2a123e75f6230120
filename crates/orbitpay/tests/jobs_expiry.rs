//! The expiry sweep, called directly. The simulator's ledgers close at fixed times
//! (2024-06-01 + 5 s per ledger), so sessions are given expiries on that timeline: in the past
//! for the database's clock, and before or after a given ledger for the sweep.

mod jobs_support;

use jobs_support::Env;
use orbitpay::jobs::expiry::expire_sessions;
use orbitpay_core::{SessionStatus, toid};
use orbitpay_horizon::{FetchedRecord, TxLookup};
use orbitpay_store::Session;
use tokio_util::sync::CancellationToken;

fn close_time(closed: &orbitpay_horizon_sim::ClosedLedger) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(&closed.closed_at)
        .unwrap()
        .to_utc()
}

async fn expires_at(env: &Env, s: &Session, at: chrono::DateTime<chrono::Utc>) {
    env.exec(&format!(
        "UPDATE sessions SET expires_at = '{}' WHERE id = '{}'",
        at.to_rfc3339(),
        s.id
    ))
    .await;
}

async fn set_cursor(env: &Env, token: i64) {
    let conn = env.db.conn().await;
    orbitpay_store::cursors::set(&conn, &env.shop, token)
        .await
        .unwrap();
}

async fn sweep(env: &Env) -> orbitpay::jobs::runs::Report {
    expire_sessions(
        &env.db.pool(),
        &*env.source,
        &[env.shop],
        &CancellationToken::new(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_quiet_account_expires_once_the_ledger_has_closed_past_the_expiry_and_processing_is_left_alone()
 {
    let env = Env::new().await;
    let first = env.sim.close_ledger(vec![]);
    set_cursor(&env, toid::encode(first.sequence, 0xF_FFFF, 0xFFF)).await;
    let pending = env.session(1, 100).await;
    let processing = env.session(2, 100).await;
    let later = env.session(3, 100).await;
    let t = close_time(&first);
    expires_at(&env, &pending, t + chrono::Duration::seconds(2)).await;
    expires_at(&env, &processing, t + chrono::Duration::seconds(2)).await;
    env.claim(
        &processing,
        orbitpay_core::TxHash::from_bytes([7; 32]),
        "1 minute",
    )
    .await;
    // Not yet past the latest ledger's close: waits.
    expires_at(&env, &later, t + chrono::Duration::seconds(60)).await;
    let report = sweep(&env).await;
    assert_eq!(report.count("expired"), 0);
    assert_eq!(report.count("waiting"), 2, "{report:?}");
    assert!(!report.notes.is_empty());

    // The next ledger closes 5 s later: past the first two expiries.
    env.sim.close_ledger(vec![]);
    let report = sweep(&env).await;
    assert_eq!(report.count("expired"), 1, "{report:?}");
    assert_eq!(env.reload(&pending).await.status, SessionStatus::Expired);
    assert_eq!(env.events(&pending, "session.expired").await, 1);
    // A session in processing is never expired; it resolves first.
    assert_eq!(
        env.reload(&processing).await.status,
        SessionStatus::Processing
    );
    assert_eq!(env.reload(&later).await.status, SessionStatus::Pending);
    // Idempotent.
    assert_eq!(sweep(&env).await.count("expired"), 0);
    assert_eq!(env.events(&pending, "session.expired").await, 1);
}

#[tokio::test]
async fn an_on_time_payment_still_to_ingest_holds_the_expiry_and_then_pays() {
    let env = Env::new().await;
    let start = env.sim.close_ledger(vec![]);
    set_cursor(&env, toid::encode(start.sequence, 0xF_FFFF, 0xFFF)).await;
    let s = env.session(5, 100).await;
    // Paid in the next ledger; the session expires 1 s after that ledger closes.
    let hash = env.pay(5, 100);
    let paid_in = env.sim.transaction(&hash.to_string()).unwrap().1.ledger;
    let paid_at = close_time(&start) + chrono::Duration::seconds(5);
    expires_at(&env, &s, paid_at + chrono::Duration::seconds(1)).await;
    // Ledgers keep closing well past the expiry; ingestion is still behind the payment.
    env.sim.close_empty_ledgers(10);
    let report = sweep(&env).await;
    assert_eq!(report.count("expired"), 0);
    assert_eq!(report.count("waiting"), 1);
    assert_eq!(env.reload(&s).await.status, SessionStatus::Pending);

    // Ingestion (the daemon back up) reaches it: on time, paid.
    let TxLookup::Confirmed { records, .. } = env.source.lookup_transaction(&hash).await else {
        panic!("known");
    };
    assert_eq!(records[0].ledger, paid_in);
    let fetched: Vec<FetchedRecord> = records.iter().cloned().map(Ok).collect();
    env.matcher
        .handle(&env.shop, &fetched, records.last().unwrap().op_id)
        .await
        .unwrap();
    assert_eq!(env.reload(&s).await.status, SessionStatus::Paid);
    assert_eq!(sweep(&env).await.count("expired"), 0);
}

#[tokio::test]
async fn a_session_with_an_unpaid_expiry_behind_ingestion_expires_and_a_late_payment_is_recorded() {
    let env = Env::new().await;
    let start = env.sim.close_ledger(vec![]);
    set_cursor(&env, toid::encode(start.sequence, 0xF_FFFF, 0xFFF)).await;
    let s = env.session(6, 100).await;
    expires_at(&env, &s, close_time(&start) + chrono::Duration::seconds(1)).await;
    // A payment that closed after the expiry waits after the cursor: the sweep may go ahead.
    let hash = env.pay(6, 100);
    let report = sweep(&env).await;
    assert_eq!(report.count("expired"), 1, "{report:?}");
    let TxLookup::Confirmed { records, .. } = env.source.lookup_transaction(&hash).await else {
        panic!("known");
    };
    let fetched: Vec<FetchedRecord> = records.iter().cloned().map(Ok).collect();
    env.matcher
        .handle(&env.shop, &fetched, records.last().unwrap().op_id)
        .await
        .unwrap();
    assert_eq!(env.reload(&s).await.status, SessionStatus::Expired);
    assert_eq!(env.payments(&s).await, 0);
    assert_eq!(env.events(&s, "session.late_payment").await, 1);
}

/// The simulator corrupts the payment's stream line on every read, so the follower stores it
/// as unreadable and moves its cursor past it. Its payment is not handled: the session it pays
/// on time waits (one that expired before its ledger closed does not), and reconciliation
/// later reads it and pays the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_time_payment_stored_as_unreadable_holds_the_expiry_until_it_is_read() {
    use orbitpay_horizon::{FollowConfig, Follower};
    use orbitpay_horizon_sim::{Fault, RouteKind};
    use std::time::Duration;

    let env = Env::new().await;
    let start = env.sim.close_ledger(vec![]);
    let paid_at = close_time(&start) + chrono::Duration::seconds(5);
    let s = env.session(7, 100).await;
    let early = env.session(8, 100).await;
    expires_at(&env, &s, paid_at + chrono::Duration::seconds(1)).await;
    expires_at(&env, &early, paid_at - chrono::Duration::seconds(3)).await;

    // Every stream read of the payment is corrupt, as many times as the follower reads it.
    let reads = FollowConfig::default().unreadable_reads;
    for _ in 0..reads {
        env.sim
            .inject_for(RouteKind::AccountPaymentsStream, Fault::MalformedDataLine);
    }
    let config = FollowConfig {
        backoff_base: Duration::from_millis(20),
        ..FollowConfig::default()
    };
    let follower = Follower::new(
        env.shop,
        env.source.clone(),
        env.matcher.sink(env.shop),
        config,
        Some(toid::encode(start.sequence, 0xF_FFFF, 0xFFF)),
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { follower.run(stop).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hash = env.pay(7, 100);
    let op = env.sim.transaction(&hash.to_string()).unwrap().1.op_ids[0];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let stored = format!(
        "SELECT count(*) FROM unreadable_records WHERE paging_token = {op} AND resolved_at IS NULL"
    );
    while env.count(&stored).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the follower stores the corrupt record"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    let _ = task.await;
    let cursor = {
        let mut conn = env.db.conn().await;
        orbitpay_store::cursors::get(&mut conn, &env.shop)
            .await
            .unwrap()
    };
    assert_eq!(cursor, Some(op), "the cursor passed the unreadable record");
    env.sim.close_empty_ledgers(10);

    let report = sweep(&env).await;
    assert_eq!(report.count("expired"), 1, "{report:?}");
    assert_eq!(env.reload(&early).await.status, SessionStatus::Expired);
    assert_eq!(report.count("waiting"), 1, "{report:?}");
    assert_eq!(env.reload(&s).await.status, SessionStatus::Pending);

    let report = orbitpay::jobs::reconcile::reconcile(
        &env.db.pool(),
        &*env.source,
        &env.matcher,
        &[env.shop],
        Duration::from_secs(24 * 3600),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.count("unreadable_resolved"), 1, "{report:?}");
    assert_eq!(env.reload(&s).await.status, SessionStatus::Paid);
    assert_eq!(
        env.count("SELECT count(*) FROM unmatched_payments").await,
        0
    );
    assert_eq!(sweep(&env).await.count("expired"), 0);
}

/// Two Horizon nodes behind one load balancer: one has closed the payment's ledger and ten
/// more, the other is still at the ledger before it. A page from the node behind is empty, and
/// says so only up to its own latest ledger (its `Latest-Ledger` header); the other node's
/// latest ledger must not bound it.
#[tokio::test]
async fn a_page_from_a_node_behind_bounds_the_expiry_by_its_own_latest_ledger() {
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use orbitpay_core::{AccountId, TxHash};
    use orbitpay_horizon::{
        EventStream, HorizonConfig, HorizonSource, LedgerSource, PaymentsPage, RootInfo,
        SourceError,
    };

    /// Pages (and their close-time lookups) from one node, everything else from the other.
    struct Balanced {
        pages: HorizonSource,
        rest: Arc<dyn LedgerSource>,
    }

    #[async_trait]
    impl LedgerSource for Balanced {
        fn name(&self) -> &str {
            "balanced"
        }
        async fn root(&self) -> Result<RootInfo, SourceError> {
            self.rest.root().await
        }
        async fn payments_page(
            &self,
            account: &AccountId,
            cursor: i64,
            limit: u32,
        ) -> Result<PaymentsPage, SourceError> {
            self.pages.payments_page(account, cursor, limit).await
        }
        async fn stream_payments(
            &self,
            account: &AccountId,
            cursor: i64,
        ) -> Result<EventStream, SourceError> {
            self.rest.stream_payments(account, cursor).await
        }
        async fn lookup_transaction(&self, hash: &TxHash) -> TxLookup {
            self.rest.lookup_transaction(hash).await
        }
        async fn ledger_closed_at(&self, sequence: u32) -> Result<i64, SourceError> {
            self.pages.ledger_closed_at(sequence).await
        }
        async fn account(
            &self,
            account: &orbitpay_core::AccountId,
        ) -> orbitpay_horizon::AccountLookup {
            self.rest.account(account).await
        }
    }

    let env = Env::new().await;
    // The node behind: the same seed, accounts and clock, closed to the same ledger.
    let behind = orbitpay_horizon_sim::HorizonSim::with_seed(11);
    behind.register_account(env.shop);
    behind.register_account(env.payer);
    let start = env.sim.close_ledger(vec![]);
    assert_eq!(behind.close_ledger(vec![]).closed_at, start.closed_at);
    let behind_server = behind.serve("127.0.0.1:0").await.unwrap();
    let mut cfg = HorizonConfig::new(behind_server.base_url().parse().unwrap());
    cfg.request_timeout = Duration::from_secs(5);
    let balanced = Balanced {
        pages: HorizonSource::new(cfg).unwrap(),
        rest: env.source.clone(),
    };
    set_cursor(&env, toid::encode(start.sequence, 0xF_FFFF, 0xFFF)).await;
    let s = env.session(9, 100).await;
    // Paid on time in the next ledger, which only the node ahead has closed, with ten more.
    expires_at(&env, &s, close_time(&start) + chrono::Duration::seconds(6)).await;
    env.pay(9, 100);
    env.sim.close_empty_ledgers(10);

    let report = expire_sessions(
        &env.db.pool(),
        &balanced,
        &[env.shop],
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.count("expired"), 0, "{report:?}");
    assert_eq!(report.count("waiting"), 1, "{report:?}");
    assert_eq!(env.reload(&s).await.status, SessionStatus::Pending);
}
