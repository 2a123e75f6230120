//! The matcher fed by the real follower and transaction lookup, against the Horizon simulator
//! over loopback HTTP.

mod common;

use std::time::Duration;

use common::*;
use orbitpay_core::{AccountId, Asset, MuxedAccount, SessionStatus, TxHash};
use orbitpay_horizon::{FollowConfig, Follower, HorizonConfig, HorizonSource, LedgerSource};
use orbitpay_horizon_sim::{Fault, Op, RouteKind, Tx, units};
use orbitpay_matcher::{ReportError, ReportOutcome};
use orbitpay_store::Session;
use tokio_util::sync::CancellationToken;

fn payer() -> AccountId {
    account(PAYER)
}

fn pay_tx(f: &Fixture, reference: u64, whole_units: i64) -> TxHash {
    let to = MuxedAccount::new(f.account, reference);
    let closed = f.sim.close_ledger(vec![Tx::new(payer()).op(Op::payment(
        payer(),
        to,
        Asset::Native,
        units(whole_units),
    ))]);
    closed.txs[0].hash.parse().unwrap()
}

async fn wait_for(f: &Fixture, s: &Session, status: SessionStatus) -> Session {
    for _ in 0..200 {
        let current = f.reload(s).await;
        if current.status == status {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "session {} never became {status}: {:?}",
        s.id,
        f.reload(s).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_to_matcher_to_paid_end_to_end() {
    let f = Fixture::new().await;
    f.sim.register_account(f.account);
    let session = f.session(Asset::Native, "10", 42).await;

    let mut cfg = HorizonConfig::new(f.server.base_url().parse().unwrap());
    cfg.follow = FollowConfig {
        backoff_base: Duration::from_millis(20),
        ..FollowConfig::default()
    };
    let source: std::sync::Arc<dyn LedgerSource> =
        std::sync::Arc::new(HorizonSource::new(cfg.clone()).unwrap());
    let follower = Follower::new(
        f.account,
        source,
        f.matcher.sink(f.account),
        cfg.follow,
        None,
    );
    let cancel = CancellationToken::new();
    let run = tokio::spawn(follower.run(cancel.clone()));
    for _ in 0..100 {
        if f.cursor().await.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        f.cursor().await.is_some(),
        "a new account's starting point is stored at once"
    );

    pay_tx(&f, 42, 4);
    let partly = wait_for(&f, &session, SessionStatus::Pending).await;
    for _ in 0..100 {
        if f.reload(&session).await.amount_received == amount("4") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(f.reload(&partly).await.amount_received, amount("4"));
    pay_tx(&f, 42, 6);
    let paid = wait_for(&f, &session, SessionStatus::Paid).await;
    assert_eq!(paid.amount_received, amount("10"));
    pay_tx(&f, 42, 1);
    for _ in 0..100 {
        if f.count("SELECT count(*) FROM unmatched_payments WHERE reason = 'already_paid'")
            .await
            == 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        f.count("SELECT count(*) FROM unmatched_payments WHERE reason = 'already_paid'")
            .await,
        1
    );
    assert_eq!(
        f.reload(&session).await.amount_received,
        amount("10"),
        "the duplicate is recorded, not credited"
    );

    cancel.cancel();
    run.await.unwrap();
}

#[tokio::test]
async fn a_reported_transaction_is_confirmed_and_settled_once() {
    let f = Fixture::new().await;
    let s = f.session(Asset::Native, "5", 7).await;
    let hash = pay_tx(&f, 7, 5);
    let outcome = f
        .matcher
        .report_tx(s.id, hash, Duration::from_secs(2))
        .await
        .unwrap();
    let ReportOutcome::Settled(settled) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (settled.status, settled.amount_received),
        (SessionStatus::Paid, amount("5"))
    );

    // A retry, and the stream delivering the same operation later, change nothing.
    let again = f
        .matcher
        .report_tx(s.id, hash, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(matches!(again, ReportOutcome::Settled(ref s) if s.status == SessionStatus::Paid));
    assert_eq!(f.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(
        f.count("SELECT count(*) FROM outbox_events WHERE event_type = 'session.paid'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_reported_transaction_that_is_not_on_the_ledger_releases_the_claim() {
    let f = Fixture::new().await;
    let s = f.session(Asset::Native, "5", 8).await;
    let outcome = f
        .matcher
        .report_tx(s.id, hash(999), Duration::from_millis(600))
        .await
        .unwrap();
    let ReportOutcome::Released(released) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(released.status, SessionStatus::Pending);
    assert_eq!(
        f.count("SELECT count(*) FROM outbox_events WHERE event_type = 'session.released'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_reported_transaction_paying_another_session_credits_that_one_and_releases_this() {
    let f = Fixture::new().await;
    let reported = f.session(Asset::Native, "5", 8).await;
    let actually_paid = f.session(Asset::Native, "5", 9).await;
    let hash = pay_tx(&f, 9, 5);
    let outcome = f
        .matcher
        .report_tx(reported.id, hash, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(
        matches!(outcome, ReportOutcome::Released(ref s) if s.status == SessionStatus::Pending),
        "{outcome:?}"
    );
    assert_eq!(f.reload(&actually_paid).await.status, SessionStatus::Paid);
}

#[tokio::test]
async fn reporting_on_a_session_paid_by_another_transaction_is_an_invalid_state() {
    let f = Fixture::new().await;
    let s = f.session(Asset::Native, "5", 10).await;
    let first = pay_tx(&f, 10, 5);
    f.matcher
        .report_tx(s.id, first, Duration::from_secs(2))
        .await
        .unwrap();
    let err = f
        .matcher
        .report_tx(s.id, hash(12345), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ReportError::InvalidState {
                status: SessionStatus::Paid,
                ..
            }
        ),
        "{err}"
    );
    let missing = f
        .matcher
        .report_tx(uuid::Uuid::now_v7(), first, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(missing, ReportError::SessionNotFound));
}

#[tokio::test]
async fn horizon_unavailable_leaves_the_session_processing_and_the_background_finishes_it() {
    let f = Fixture::new().await;
    let s = f.session(Asset::Native, "5", 11).await;
    let hash = pay_tx(&f, 11, 5);
    f.sim
        .inject_times(RouteKind::Transaction, Fault::Status5xx(503), 4);
    let outcome = f
        .matcher
        .report_tx(s.id, hash, Duration::from_millis(700))
        .await
        .unwrap();
    let ReportOutcome::Processing(processing) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        processing.status,
        SessionStatus::Processing,
        "Unavailable is never taken for NotFound"
    );
    let paid = wait_for(&f, &s, SessionStatus::Paid).await;
    assert_eq!(paid.amount_received, amount("5"));
}

#[tokio::test]
async fn a_reported_transaction_that_also_pays_a_session_claimed_elsewhere_settles_both() {
    let f = Fixture::new().await;
    let held = f.session(Asset::Native, "1", 20).await;
    let ours = f.session(Asset::Native, "1", 21).await;
    {
        let mut conn = f.db.conn().await;
        orbitpay_store::settlement::claim_reported(&mut conn, held.id, hash(777))
            .await
            .unwrap();
    }
    let ops = [20, 21].map(|r| {
        Op::payment(
            payer(),
            MuxedAccount::new(f.account, r),
            Asset::Native,
            units(1),
        )
    });
    let closed = f.sim.close_ledger(vec![Tx::new(payer()).ops(ops)]);
    let tx: TxHash = closed.txs[0].hash.parse().unwrap();

    // The earlier operation pays a session another transaction holds: it is credited beside
    // that claim instead of holding ours back.
    let outcome = f
        .matcher
        .report_tx(ours.id, tx, Duration::from_millis(600))
        .await
        .unwrap();
    let ReportOutcome::Settled(s) = outcome else {
        panic!("must be settled: {outcome:?}")
    };
    assert_eq!(s.status, SessionStatus::Paid);
    let held = f.reload(&held).await;
    assert_eq!(
        (held.status, held.amount_received, held.processing),
        (SessionStatus::Paid, amount("1"), None)
    );
    assert_eq!(
        f.count("SELECT count(*) FROM outbox_events WHERE event_type = 'session.released'")
            .await,
        0
    );
}

/// The whole path with a record whose line is corrupted on every read: the follower reads it
/// again, gives up, and the matcher stores it; the payments around it are credited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_unreadable_on_every_read_is_stored_and_listed_and_the_rest_is_credited() {
    let f = Fixture::new().await;
    f.sim.register_account(f.account);
    let paid = f.session(Asset::Native, "10", 42).await;
    let missed = f.session(Asset::Native, "5", 43).await;

    let mut cfg = HorizonConfig::new(f.server.base_url().parse().unwrap());
    // One event per connection: every reconnect reads the record after the cursor first.
    cfg.stream_limit = 1;
    cfg.follow = FollowConfig {
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        ..FollowConfig::default()
    };
    let source: std::sync::Arc<dyn LedgerSource> =
        std::sync::Arc::new(HorizonSource::new(cfg.clone()).unwrap());
    let follower = Follower::new(
        f.account,
        source,
        f.matcher.sink(f.account),
        cfg.follow.clone(),
        None,
    );
    let status = follower.status();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(follower.run(cancel.clone()));
    for _ in 0..200 {
        if status.state() == orbitpay_horizon::FollowerState::Streaming {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The open connection reads the first payment; the next five each find the second broken.
    for _ in 0..cfg.follow.unreadable_reads {
        f.sim
            .inject_for(RouteKind::AccountPaymentsStream, Fault::MalformedDataLine);
    }
    let op_of = |reference: u64, whole_units: i64| {
        let tx = Tx::new(payer()).op(Op::payment(
            payer(),
            MuxedAccount::new(f.account, reference),
            Asset::Native,
            units(whole_units),
        ));
        let closed = f.sim.close_ledger(vec![tx.clone()]);
        closed.txs[0].payment_op_ids(&tx)[0]
    };
    let first = op_of(42, 4);
    let broken = op_of(43, 5);
    let last = op_of(42, 6);

    let settled = wait_for(&f, &paid, SessionStatus::Paid).await;
    assert_eq!(settled.amount_received, amount("10"));
    for _ in 0..100 {
        if f.cursor().await == Some(last) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(f.cursor().await, Some(last));
    assert!(first < broken && broken < last);

    let mut conn = f.db.conn().await;
    let listed = orbitpay_store::unreadable::list_unresolved(&mut conn, Some(&f.account), 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].paging_token, broken);
    assert_eq!(listed[0].attempts, 5);
    assert!(listed[0].parse_error.contains("not JSON"));
    // Not credited, not lost: waiting for the reconciliation job.
    let untouched = f.reload(&missed).await;
    assert_eq!(untouched.status, SessionStatus::Pending);
    assert_eq!(f.count("SELECT count(*) FROM unmatched_payments").await, 0);

    cancel.cancel();
    run.await.unwrap();
}
