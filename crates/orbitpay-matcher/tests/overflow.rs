//! A credit that would take a session's `amount_received` past i64 stroops is recorded as
//! unmatched `amount_overflow` on that session, with its event, and the batch, the cursor and
//! the account go on. (A payments row holds part of its session's `amount_received`, so it can
//! overflow only where the session does.)

mod common;

use common::*;
use orbitpay_core::{Amount, Asset, Memo};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const MAX: i64 = i64::MAX;

fn stroops(n: i64) -> String {
    Amount::from_stroops(n).unwrap().to_string()
}

#[tokio::test]
async fn a_credit_past_int64_is_unmatched_and_the_batch_goes_on() {
    let f = Fixture::new().await;
    let big = f.session(Asset::Native, &stroops(MAX), 1).await;
    let other = f.session(Asset::Native, "5", 2).await;
    // Paid in full at i64::MAX, then one stroop more in the same transaction (which adds to
    // its payment): overflow.
    let batch = [
        pay(1, 1, muxed(1), Asset::Native, &stroops(MAX), Memo::None),
        pay(1, 2, muxed(1), Asset::Native, &stroops(1), Memo::None),
        pay(3, 1, muxed(2), Asset::Native, "5", Memo::None),
    ];
    f.handle(&batch).await;

    let big = f.reload(&big).await;
    assert_eq!(big.status.as_str(), "paid");
    assert_eq!(big.amount_received.stroops(), MAX);
    assert_eq!(f.reload(&other).await.status.as_str(), "paid");
    assert_eq!(f.cursor().await, Some(batch[2].op_id));
    assert_eq!(
        f.count(&format!(
            "SELECT count(*) FROM unmatched_payments WHERE op_id = {} AND reason = 'amount_overflow'
               AND session_id = '{}' AND amount = 1",
            batch[1].op_id, big.id
        ))
        .await,
        1
    );
    assert_eq!(
        f.count("SELECT count(*) FROM outbox_events WHERE event_type = 'payment.unmatched'")
            .await,
        1
    );
}

#[tokio::test]
async fn an_overflowing_credit_to_a_pending_session_takes_no_claim() {
    let f = Fixture::new().await;
    let s = f.session(Asset::Native, &stroops(MAX), 1).await;
    f.handle(&[pay(1, 1, muxed(1), Asset::Native, &stroops(1), Memo::None)])
        .await;
    // Short, so pending with 1 stroop; then i64::MAX more cannot be added.
    let r = pay(2, 1, muxed(1), Asset::Native, &stroops(MAX), Memo::None);
    f.handle(std::slice::from_ref(&r)).await;
    let s = f.reload(&s).await;
    assert_eq!(s.status.as_str(), "pending", "no claim left behind");
    assert!(s.processing.is_none());
    assert_eq!(s.amount_received.stroops(), 1);
    assert_eq!(
        f.count(&format!(
            "SELECT count(*) FROM unmatched_payments WHERE op_id = {} AND reason = 'amount_overflow'",
            r.op_id
        ))
        .await,
        1
    );
}

/// Two credits near i64::MAX to one session, from one transaction or two: the second is
/// credited (the stored sums exact), `already_paid` (another transaction after the session was
/// paid), or `amount_overflow`; never a halt, never lost, and the payments rows add up to
/// `amount_received`.
#[test]
fn credits_near_int64_max_are_credited_or_recorded_never_lost() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let f = rt.block_on(Fixture::new());
    let near_max = || prop_oneof![MAX - 3..=MAX, 1i64..=3, (MAX / 2 - 2)..=(MAX / 2 + 2)];
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    let reference = std::cell::Cell::new(0u64);
    runner
        .run(
            &(near_max(), near_max(), near_max(), any::<bool>()),
            |(due, first, second, same_tx)| {
                reference.set(reference.get() + 1);
                let r = reference.get();
                rt.block_on(async {
                    let s = f.session(Asset::Native, &stroops(due), r).await;
                    let tx1 = r * 10;
                    let tx2 = if same_tx { tx1 } else { tx1 + 1 };
                    let a = pay(tx1, 1, muxed(r), Asset::Native, &stroops(first), Memo::None);
                    let b = pay(
                        tx2,
                        2,
                        muxed(r),
                        Asset::Native,
                        &stroops(second),
                        Memo::None,
                    );
                    f.handle(&[a.clone(), b.clone()]).await;
                    let s = f.reload(&s).await;
                    let already_paid = !same_tx && first >= due;
                    let sum = first.checked_add(second);
                    let (expected, reason) = match sum {
                        _ if already_paid => (first, Some("already_paid")),
                        Some(sum) => (sum, None),
                        None => (first, Some("amount_overflow")),
                    };
                    prop_assert_eq!(s.amount_received.stroops(), expected);
                    prop_assert_eq!(f.cursor().await, Some(b.op_id));
                    let paid_sum = f
                        .count(&format!(
                            "SELECT coalesce(sum(amount), 0)::int8 AS n FROM payments
                              WHERE session_id = '{}'",
                            s.id
                        ))
                        .await;
                    prop_assert_eq!(paid_sum, expected);
                    let recorded = f
                        .count(&format!(
                            "SELECT count(*) FROM unmatched_payments
                              WHERE op_id = {} AND reason::text = '{}' AND session_id = '{}'",
                            b.op_id,
                            reason.unwrap_or("none"),
                            s.id
                        ))
                        .await;
                    prop_assert_eq!(recorded, i64::from(reason.is_some()));
                    let handled = f
                        .count(&format!(
                            "SELECT count(*) FROM (SELECT op_id FROM payment_operations
                               UNION ALL SELECT op_id FROM unmatched_payments) h
                              WHERE op_id IN ({}, {})",
                            a.op_id, b.op_id
                        ))
                        .await;
                    prop_assert_eq!(handled, 2, "each credit leaves exactly one row");
                    Ok(())
                })
            },
        )
        .unwrap();
}
