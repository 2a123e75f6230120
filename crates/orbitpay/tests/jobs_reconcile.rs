//! Reconciliation, called directly: a payment the stream skipped (the simulator leaves it out
//! of every stream) is found on the REST pages and credited; everything else is a no-op; the
//! stream's cursor is never touched. A stored unreadable record that reads now is credited
//! and marked resolved. Only what the stream was meant to cover is reconciled (from the
//! account's first cursor), and one account's error is that account's alone.

mod jobs_support;

use std::time::Duration;

use jobs_support::Env;
use orbitpay::jobs::reconcile::reconcile;
use orbitpay_core::{AccountId, Asset, MuxedAccount, Reference, SessionStatus, toid};
use orbitpay_horizon::{FollowConfig, Follower};
use orbitpay_horizon_sim::{Fault, Op, RouteKind, Tx, derive_account, stroops};
use orbitpay_store::Session;
use orbitpay_store::models::{NewSession, NewUnreadableRecord};
use tokio_util::sync::CancellationToken;

async fn cursor(env: &Env) -> Option<i64> {
    let mut conn = env.db.conn().await;
    orbitpay_store::cursors::get(&mut conn, &env.shop)
        .await
        .unwrap()
}

/// Stores the account's first cursor, as the daemon does before its stream reads anything.
async fn start_at(env: &Env, token: i64) {
    let conn = env.db.conn().await;
    orbitpay_store::cursors::set(&conn, &env.shop, token)
        .await
        .unwrap();
}

async fn run(env: &Env) -> orbitpay::jobs::runs::Report {
    reconcile(
        &env.db.pool(),
        &*env.source,
        &env.matcher,
        &[env.shop],
        Duration::from_secs(24 * 3600),
        &CancellationToken::new(),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_heals_a_payment_the_stream_skipped() {
    let env = Env::new().await;
    let start = env.sim.close_empty_ledgers(1);
    let missed = env.session(1, 100).await;
    let seen = env.session(2, 100).await;

    // The follower streams live from the latest ledger, stored first as the daemon does.
    start_at(&env, toid::encode(start, 0xF_FFFF, 0xFFF)).await;
    let stop = CancellationToken::new();
    let follower = Follower::new(
        env.shop,
        env.source.clone(),
        env.matcher.sink(env.shop),
        FollowConfig::default(),
        Some(toid::encode(start, 0xF_FFFF, 0xFFF)),
    );
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { follower.run(stop).await }
    });
    // Let it reach the stream before anything happens.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The next ledger's first operation: set before it closes, so no stream ever sends it.
    let skipped_op = toid::encode(env.sim.latest_ledger() + 1, 1, 1);
    env.sim.skip_in_streams(skipped_op);
    let skipped_hash = env.pay(1, 100);
    assert_eq!(
        env.sim
            .transaction(&skipped_hash.to_string())
            .unwrap()
            .1
            .op_ids[0],
        skipped_op
    );
    env.pay(2, 100);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while env.reload(&seen).await.status != SessionStatus::Paid {
        assert!(
            std::time::Instant::now() < deadline,
            "the stream credits the second payment"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    let _ = task.await;
    assert_eq!(env.reload(&missed).await.status, SessionStatus::Pending);
    let before = cursor(&env).await;
    assert!(
        before.unwrap() > skipped_op,
        "the cursor moved past the missed record"
    );

    let report = run(&env).await;
    assert_eq!(report.count("newly_handled"), 1, "{report:?}");
    assert_eq!(report.count("already_handled"), 1, "{report:?}");
    assert_eq!(env.reload(&missed).await.status, SessionStatus::Paid);
    assert_eq!(env.payments(&missed).await, 1);
    assert_eq!(
        cursor(&env).await,
        before,
        "the stream's cursor is untouched"
    );

    // A second run: all handled.
    let report = run(&env).await;
    assert_eq!(report.count("newly_handled"), 0);
    assert_eq!(report.count("already_handled"), 2);
}

#[tokio::test]
async fn a_stored_unreadable_record_that_reads_now_is_credited_and_resolved() {
    let env = Env::new().await;
    let s = env.session(3, 100).await;
    let hash = env.pay(3, 100);
    let op = env.sim.transaction(&hash.to_string()).unwrap().1.op_ids[0];
    // The follower gave up on it and moved the cursor past it.
    {
        let mut conn = env.db.conn().await;
        orbitpay_store::unreadable::record_and_advance(
            &mut conn,
            &env.shop,
            &NewUnreadableRecord {
                account: env.shop.to_string(),
                paging_token: op,
                raw: b"{\"trunc".to_vec(),
                raw_truncated: false,
                parse_error: "EOF while parsing".into(),
                attempts: 5,
            },
        )
        .await
        .unwrap();
    }
    let report = run(&env).await;
    assert_eq!(report.count("unreadable_resolved"), 1, "{report:?}");
    assert_eq!(env.reload(&s).await.status, SessionStatus::Paid);
    let mut conn = env.db.conn().await;
    assert_eq!(
        orbitpay_store::unreadable::count_unresolved(&mut conn)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn history_from_before_the_account_was_first_watched_is_not_reconciled() {
    let env = Env::new().await;
    // Payments the account received before orbitpay watched it: one naming no session of
    // ours, one naming a session (as a reused reference would).
    env.pay(77, 100);
    let before = env.session(4, 100).await;
    env.pay(4, 100);
    // orbitpay starts now.
    let first = toid::encode(env.sim.latest_ledger(), 0xF_FFFF, 0xFFF);
    start_at(&env, first).await;
    // A payment after the start that the stream missed: the cursor moved past it.
    let missed = env.session(5, 100).await;
    env.pay(5, 100);
    let current = toid::encode(env.sim.close_empty_ledgers(1), 0xF_FFFF, 0xFFF);
    start_at(&env, current).await;
    assert_eq!(cursor(&env).await, Some(current));

    let report = run(&env).await;
    assert_eq!(report.count("checked"), 1, "{report:?}");
    assert_eq!(report.count("newly_handled"), 1, "{report:?}");
    assert_eq!(report.count("unmatched"), 0, "{report:?}");
    assert_eq!(env.reload(&missed).await.status, SessionStatus::Paid);
    assert_eq!(env.reload(&before).await.status, SessionStatus::Pending);
    assert_eq!(
        env.count("SELECT count(*) FROM unmatched_payments").await,
        0
    );
    assert_eq!(
        env.count("SELECT count(*) FROM outbox_events WHERE event_type = 'payment.unmatched'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_cursor_stored_before_first_token_existed_keeps_the_window() {
    let env = Env::new().await;
    let early = env.session(6, 100).await;
    env.pay(6, 100);
    let current = toid::encode(env.sim.close_empty_ledgers(1), 0xF_FFFF, 0xFFF);
    start_at(&env, current).await;
    // What the migration leaves on rows it found: where the stream began is unknown.
    env.exec("UPDATE stream_cursors SET first_token = NULL")
        .await;

    let report = run(&env).await;
    assert_eq!(report.count("newly_handled"), 1, "{report:?}");
    assert_eq!(env.reload(&early).await.status, SessionStatus::Paid);
}

/// A pending session of `account` for 100 stroops, paid by the next ledger.
async fn paid_session_of(env: &Env, account: AccountId, reference: u64) -> Session {
    let s = {
        let mut conn = env.db.conn().await;
        let new = NewSession {
            account,
            asset: Asset::Native,
            amount: stroops(100),
            expires_at: chrono::Utc::now() + chrono::Duration::minutes(15),
            metadata: serde_json::json!({}),
            order_id: None,
            webhook_url: None,
        };
        orbitpay_store::sessions::insert_with_reference(&mut conn, &new, Reference(reference))
            .await
            .unwrap()
    };
    env.sim.close_ledger(vec![Tx::new(env.payer).op(Op::payment(
        env.payer,
        MuxedAccount::new(account, reference),
        Asset::Native,
        stroops(100),
    ))]);
    s
}

#[tokio::test]
async fn an_account_the_source_fails_for_is_counted_and_the_next_one_is_still_reconciled() {
    let env = Env::new().await;
    let other = derive_account(11, 2);
    env.sim.register_account(other);
    let accounts = [env.shop, other];
    // Both watched from here on; each then gets a payment its stream missed.
    let first = toid::encode(env.sim.latest_ledger(), 0xF_FFFF, 0xFFF);
    let conn = env.db.conn().await;
    for account in &accounts {
        orbitpay_store::cursors::set(&conn, account, first)
            .await
            .unwrap();
    }
    let failing = paid_session_of(&env, env.shop, 8).await;
    let healthy = paid_session_of(&env, other, 9).await;
    let current = toid::encode(env.sim.close_empty_ledgers(1), 0xF_FFFF, 0xFFF);
    for account in &accounts {
        orbitpay_store::cursors::set(&conn, account, current)
            .await
            .unwrap();
    }
    // Horizon fails the first account's page once.
    env.sim
        .inject_for(RouteKind::AccountPayments, Fault::Status5xx(500));

    let report = reconcile(
        &env.db.pool(),
        &*env.source,
        &env.matcher,
        &accounts,
        Duration::from_secs(24 * 3600),
        &CancellationToken::new(),
    )
    .await
    .expect("one account's error does not end the run");
    assert_eq!(report.count("failed"), 1, "{report:?}");
    assert_eq!(report.count("newly_handled"), 1, "{report:?}");
    assert_eq!(env.reload(&failing).await.status, SessionStatus::Pending);
    assert_eq!(env.reload(&healthy).await.status, SessionStatus::Paid);

    // The failed account is reconciled on the next run.
    let report = reconcile(
        &env.db.pool(),
        &*env.source,
        &env.matcher,
        &accounts,
        Duration::from_secs(24 * 3600),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.count("failed"), 0, "{report:?}");
    assert_eq!(env.reload(&failing).await.status, SessionStatus::Paid);
}
