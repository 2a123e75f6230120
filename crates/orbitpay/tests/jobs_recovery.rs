//! The recovery job, called directly, with time under control through the database's clock
//! (claims are back-dated; nothing waits on tokio time).

mod jobs_support;

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use jobs_support::Env;
use orbitpay::jobs::recovery::{RecoverySettings, recover_stuck_sessions};
use orbitpay_core::{SessionStatus, TxHash};
use orbitpay_horizon::{FetchedRecord, TxLookup};
use orbitpay_horizon_sim::{Fault, RouteKind};
use orbitpay_matcher::{Matcher, MatcherConfig};
use tokio_util::sync::CancellationToken;

fn settings() -> RecoverySettings {
    RecoverySettings {
        after: Duration::from_secs(300),
        batch: 100,
    }
}

async fn run(env: &Env) -> orbitpay::jobs::runs::Report {
    recover_stuck_sessions(&env.matcher, &settings(), &CancellationToken::new())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_confirmed_tx_is_recovered_to_paid_once_while_the_stream_redelivers_it() {
    let env = Env::new().await;
    for reference in 1..=5u64 {
        let s = env.session(reference, 100).await;
        let hash = env.pay(reference, 100);
        env.claim(&s, hash, "6 minutes").await;
        // What the stream would deliver for it.
        let TxLookup::Confirmed { records, .. } = env.source.lookup_transaction(&hash).await else {
            panic!("the simulator knows the transaction");
        };
        let fetched: Vec<FetchedRecord> = records.iter().cloned().map(Ok).collect();
        let up_to = records.last().unwrap().op_id;
        let (report, streamed) =
            tokio::join!(run(&env), env.matcher.handle(&env.shop, &fetched, up_to));
        streamed.unwrap();
        let s2 = env.reload(&s).await;
        assert_eq!(s2.status, SessionStatus::Paid, "reference {reference}");
        assert_eq!(s2.amount_received.stroops(), 100);
        assert_eq!(env.payments(&s).await, 1);
        assert_eq!(
            env.count(&format!(
                "SELECT count(*) FROM payment_operations o JOIN payments p ON p.id = o.payment_id WHERE p.session_id = '{}'",
                s.id
            ))
            .await,
            1
        );
        assert_eq!(env.events(&s, "session.paid").await, 1);
        // Whoever came first settled it; recovery says so only when it was recovery.
        let recovered = env.events(&s, "session.recovered").await;
        assert_eq!(recovered, report.count("settled") as i64);
        assert!(recovered <= 1);
    }
}

#[tokio::test]
async fn a_confirmed_tx_is_settled_with_session_recovered() {
    let env = Env::new().await;
    let s = env.session(7, 100).await;
    let hash = env.pay(7, 40);
    env.claim(&s, hash, "6 minutes").await;
    let report = run(&env).await;
    assert_eq!(report.count("settled"), 1);
    let s2 = env.reload(&s).await;
    // Short: credited and open again.
    assert_eq!(s2.status, SessionStatus::Pending);
    assert_eq!(s2.amount_received.stroops(), 40);
    assert!(s2.processing.is_none());
    assert_eq!(env.events(&s, "session.partially_paid").await, 1);
    assert_eq!(env.events(&s, "session.recovered").await, 1);
    // A second run finds nothing.
    assert_eq!(run(&env).await.counts.values().sum::<u64>(), 0);
}

#[tokio::test]
async fn an_unknown_tx_goes_back_to_pending_and_a_later_payment_still_credits() {
    let env = Env::new().await;
    let s = env.session(8, 100).await;
    let unknown = TxHash::from_bytes([0x5a; 32]);
    env.claim(&s, unknown, "6 minutes").await;
    let report = run(&env).await;
    assert_eq!(report.count("released"), 1);
    let s2 = env.reload(&s).await;
    assert_eq!(s2.status, SessionStatus::Pending);
    assert!(s2.processing.is_none());
    assert_eq!(env.events(&s, "session.released").await, 1);
    assert_eq!(env.events(&s, "session.recovered").await, 1);

    // The real payment lands and the stream delivers it.
    let hash = env.pay(8, 100);
    let TxLookup::Confirmed { records, .. } = env.source.lookup_transaction(&hash).await else {
        panic!("known");
    };
    let fetched: Vec<FetchedRecord> = records.iter().cloned().map(Ok).collect();
    env.matcher
        .handle(&env.shop, &fetched, records.last().unwrap().op_id)
        .await
        .unwrap();
    assert_eq!(env.reload(&s).await.status, SessionStatus::Paid);
    assert_eq!(env.payments(&s).await, 1);
}

#[tokio::test]
async fn a_failed_tx_releases_the_claim() {
    let env = Env::new().await;
    let s = env.session(9, 100).await;
    let closed = env
        .sim
        .close_ledger(vec![orbitpay_horizon_sim::Tx::new(env.payer).failed().op(
            orbitpay_horizon_sim::Op::payment(
                env.payer,
                orbitpay_core::MuxedAccount::new(env.shop, 9),
                orbitpay_core::Asset::Native,
                orbitpay_horizon_sim::stroops(100),
            ),
        )]);
    let hash: TxHash = closed.txs[0].hash.parse().unwrap();
    env.claim(&s, hash, "6 minutes").await;
    assert_eq!(run(&env).await.count("released"), 1);
    assert_eq!(env.reload(&s).await.status, SessionStatus::Pending);
    assert_eq!(env.payments(&s).await, 0);
}

#[tokio::test]
async fn a_claim_four_minutes_old_is_untouched() {
    let env = Env::new().await;
    let s = env.session(10, 100).await;
    let hash = env.pay(10, 100);
    env.claim(&s, hash, "4 minutes").await;
    let report = run(&env).await;
    assert!(report.counts.is_empty(), "{report:?}");
    let s2 = env.reload(&s).await;
    assert_eq!(s2.status, SessionStatus::Processing);
    assert_eq!(s2.processing.unwrap().tx_hash, hash);
    assert_eq!(env.sim.request_count(RouteKind::Transaction), 0);
}

#[tokio::test]
async fn with_horizon_unavailable_the_session_waits_and_a_later_run_recovers_it() {
    let env = Env::new().await;
    let s = env.session(11, 100).await;
    let hash = env.pay(11, 100);
    env.claim(&s, hash, "6 minutes").await;
    env.sim
        .inject_for(RouteKind::Transaction, Fault::Status5xx(503));
    let report = run(&env).await;
    assert_eq!(report.count("unavailable"), 1);
    let s2 = env.reload(&s).await;
    assert_eq!(s2.status, SessionStatus::Processing);
    assert_eq!(s2.processing.unwrap().tx_hash, hash);
    assert_eq!(env.events(&s, "session.released").await, 0);

    env.sim.inject_for(
        RouteKind::Transaction,
        Fault::RateLimited {
            retry_after_secs: 0,
        },
    );
    assert_eq!(run(&env).await.count("unavailable"), 1);
    assert_eq!(env.reload(&s).await.status, SessionStatus::Processing);

    let report = run(&env).await;
    assert_eq!(report.count("settled"), 1);
    assert_eq!(env.reload(&s).await.status, SessionStatus::Paid);
    assert_eq!(env.payments(&s).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_recovery_runs_at_once_never_double_settle() {
    let env = Env::new().await;
    let mut sessions = Vec::new();
    for reference in 20..30u64 {
        let s = env.session(reference, 100).await;
        let hash = env.pay(reference, 100);
        env.claim(&s, hash, "10 minutes").await;
        sessions.push(s);
    }
    // Two runs at once, as two instances would.
    let other = Matcher::new(env.db.pool(), env.source.clone(), MatcherConfig::default());
    let stop = CancellationToken::new();
    let st = settings();
    let (a, b) = tokio::join!(
        recover_stuck_sessions(&env.matcher, &st, &stop),
        recover_stuck_sessions(&other, &st, &stop),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.count("settled") + b.count("settled"), 10, "{a:?} {b:?}");
    for s in &sessions {
        let s2 = env.reload(s).await;
        assert_eq!(s2.status, SessionStatus::Paid);
        assert_eq!(s2.amount_received.stroops(), 100);
        assert_eq!(env.payments(s).await, 1);
        assert_eq!(env.events(s, "session.paid").await, 1);
        assert_eq!(env.events(s, "session.recovered").await, 1);
    }

    // And the store's decision itself, raced on one claim.
    let s = env.session(40, 100).await;
    let hash = env.pay(40, 100);
    env.claim(&s, hash, "10 minutes").await;
    let claim = {
        let mut conn = env.db.conn().await;
        orbitpay_store::recovery::claim_of(&mut conn, s.id, hash)
            .await
            .unwrap()
            .unwrap()
    };
    let (x, y) = tokio::join!(
        env.matcher.recover(&claim, &stop),
        other.recover(&claim, &stop),
    );
    let mut actions = [x.unwrap().as_str(), y.unwrap().as_str()];
    actions.sort();
    assert_eq!(actions, ["already_resolved", "settled"]);
    assert_eq!(env.payments(&s).await, 1);
    assert_eq!(env.reload(&s).await.amount_received.stroops(), 100);
}

#[tokio::test]
async fn a_database_error_on_one_claim_is_counted_and_the_run_goes_on_to_the_next() {
    let env = Env::new().await;
    let broken = env.session(50, 100).await;
    let hash = env.pay(50, 100);
    env.claim(&broken, hash, "10 minutes").await;
    let fine = env.session(51, 100).await;
    let hash = env.pay(51, 100);
    env.claim(&fine, hash, "8 minutes").await;
    // Any write to the older claim's session fails, as a data error would (not retried).
    env.exec(&format!(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '22000'; END $$;
         CREATE TRIGGER refuse BEFORE UPDATE ON sessions FOR EACH ROW
         WHEN (OLD.id = '{}') EXECUTE FUNCTION refuse();",
        broken.id
    ))
    .await;

    let report = recover_stuck_sessions(&env.matcher, &settings(), &CancellationToken::new())
        .await
        .expect("one claim's error does not end the run");
    assert_eq!(report.count("failed"), 1, "{report:?}");
    assert_eq!(report.count("settled"), 1, "{report:?}");
    assert_eq!(env.reload(&fine).await.status, SessionStatus::Paid);
    let left = env.reload(&broken).await;
    assert_eq!(
        left.status,
        SessionStatus::Processing,
        "rolled back, for the next run"
    );
    assert_eq!(env.payments(&broken).await, 0);
}

/// Waits until a statement of this database matching `query` (a LIKE pattern) waits on a lock.
async fn waiting_on_a_lock(env: &Env, query: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock' AND query LIKE '{query}'"
    );
    while env.count(&sql).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing waits: {query}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Recovery settles a stuck claim's transaction, which pays another session, then releases
/// the stuck session; a stream batch pays both at once. Each must lock the two the same way
/// (one statement, reference order): had recovery locked the other session, then the stuck
/// one in a second statement, a batch locking the stuck one in between would hold it while
/// waiting for the other, and PostgreSQL would break the deadlock by failing one of them.
/// The interleaving is forced: an uncommitted payment row of the same key holds recovery
/// inside its settle, after its first locks, until the batch waits too.
#[tokio::test]
async fn recovery_and_a_stream_batch_take_their_row_locks_in_one_order() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let _local = ::metrics::set_default_local_recorder(&recorder);
    let env = Env::new().await;
    let stuck = env.session(60, 100).await;
    let other = env.session(61, 100).await;
    let claimed = env.pay(61, 100);
    env.claim(&stuck, claimed, "10 minutes").await;
    let paying = env.pay(60, 100);
    let mut batch = env.records_of(claimed).await;
    batch.extend(env.records_of(paying).await);
    let up_to = batch.last().unwrap().as_ref().unwrap().op_id;

    let mut blocker = env.db.conn().await;
    blocker
        .batch_execute(&format!(
            "BEGIN; INSERT INTO payments (session_id, tx_hash, amount, asset, ledger) \
             VALUES ('{}', '{claimed}', 1, 'native', 1)",
            other.id
        ))
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let st = settings();
    let recovery = recover_stuck_sessions(&env.matcher, &st, &stop);
    let stream = async {
        waiting_on_a_lock(&env, "INSERT INTO payments%").await;
        env.matcher.handle(&env.shop, &batch, up_to).await
    };
    let release = async {
        waiting_on_a_lock(&env, "INSERT INTO payments%").await;
        waiting_on_a_lock(&env, "%FOR NO KEY UPDATE%").await;
        blocker.batch_execute("ROLLBACK").await.unwrap();
    };
    let (report, streamed, ()) = tokio::join!(recovery, stream, release);
    streamed.unwrap();
    let report = report.unwrap();

    assert_eq!(
        jobs_support::counter(&metrics, "orbitpay_db_errors_total", ""),
        0,
        "no deadlock, nothing retried: {}",
        metrics.render()
    );
    assert_eq!(report.count("released"), 1, "{report:?}");
    assert_eq!(env.reload(&other).await.status, SessionStatus::Paid);
    assert_eq!(env.reload(&stuck).await.status, SessionStatus::Paid);
    assert_eq!(env.payments(&stuck).await, 1);
    assert_eq!(env.payments(&other).await, 1);
}
