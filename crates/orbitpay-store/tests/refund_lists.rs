//! What the operator page reads of refunds and unmatched payments: an unmatched payment is
//! resolved only when completed refunds return all of it; refunds page newest first by status
//! and keyset; a session lists its own refunds and those of its late payments; the awaiting
//! figures per asset.

mod common;

use chrono::Utc;
use common::{account, new_session, tx_hash};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use orbitpay_core::UnmatchedReason;
use orbitpay_store::models::{NewUnmatchedPayment, RefundRow, UnmatchedPaymentRow};
use orbitpay_store::numeric::I128Numeric;
use orbitpay_store::refund_lists::{self, Awaiting};
use orbitpay_store::refunds::{self, RefundSource};
use orbitpay_store::schema::unmatched_payments;
use orbitpay_store::unmatched;
use orbitpay_testkit::TestDb;
use uuid::Uuid;

async fn unmatched_of(db: &TestDb, op: i64, stroops: Option<i64>, session: Option<Uuid>) -> i64 {
    let row: UnmatchedPaymentRow = diesel::insert_into(unmatched_payments::table)
        .values(NewUnmatchedPayment {
            op_id: op << 12,
            tx_hash: tx_hash(op as u8),
            account: account(1).to_string(),
            amount: stroops.map(|s| I128Numeric(i128::from(s))),
            asset: stroops.map(|_| "native".into()),
            from_address: Some(account(2).to_string()),
            memo_type: None,
            memo_value: None,
            memo_bytes: None,
            muxed_id: None,
            reason: if session.is_some() {
                UnmatchedReason::AlreadyPaid
            } else {
                UnmatchedReason::NoReference
            },
            session_id: session,
            ledger: Some(7),
            detail: None,
            raw_operation: None,
        })
        .returning(UnmatchedPaymentRow::as_returning())
        .get_result(&mut db.conn().await)
        .await
        .unwrap();
    row.id
}

fn refund(source: RefundSource, amount: i64) -> RefundRow {
    let (unmatched_id, session_id) = match source {
        RefundSource::Unmatched(id) => (Some(id), None),
        RefundSource::Session(id) => (None, Some(id)),
    };
    let now = Utc::now();
    RefundRow {
        id: Uuid::now_v7(),
        unmatched_id,
        session_id,
        account: account(1).to_string(),
        amount,
        asset: "native".into(),
        destination: account(2).to_string(),
        memo_type: "none".into(),
        memo_value: None,
        memo_bytes: None,
        method: "payment".into(),
        status: refunds::AWAITING_SIGNATURE.into(),
        envelope_xdr: "AAAA".into(),
        sequence: 42,
        valid_until: now,
        tx_hash: None,
        closed_at: None,
        created_at: now,
        updated_at: now,
    }
}

async fn create(db: &TestDb, source: RefundSource, amount: i64) -> RefundRow {
    refunds::create(&mut db.conn().await, &refund(source, amount))
        .await
        .unwrap()
        .unwrap()
}

/// What the ledger does to a refund it sees paid (refund-ledger's job; written here by hand).
async fn complete(db: &TestDb, id: Uuid) {
    db.exec(&format!(
        "UPDATE refunds SET status = 'completed', tx_hash = '{}', closed_at = now()
         WHERE id = '{id}'",
        tx_hash(99)
    ))
    .await;
}

async fn unresolved_ids(db: &TestDb) -> Vec<i64> {
    let mut conn = db.conn().await;
    unmatched::newest_unresolved(&mut conn, None, 50)
        .await
        .unwrap()
        .iter()
        .map(|u| u.id)
        .collect()
}

#[tokio::test]
async fn an_unmatched_payment_is_resolved_only_when_completed_refunds_return_all_of_it() {
    let db = TestDb::new().await;
    let whole = unmatched_of(&db, 1, Some(100), None).await;
    let parts = unmatched_of(&db, 2, Some(100), None).await;
    let waiting = unmatched_of(&db, 3, Some(100), None).await;
    let unknown = unmatched_of(&db, 4, None, None).await;
    let mut conn = db.conn().await;
    assert_eq!(unmatched::count_unresolved(&mut conn).await.unwrap(), 4);

    let r = create(&db, RefundSource::Unmatched(whole), 100).await;
    complete(&db, r.id).await;
    let first = create(&db, RefundSource::Unmatched(parts), 60).await;
    complete(&db, first.id).await;
    // Awaiting a signature: the money is still here.
    create(&db, RefundSource::Unmatched(waiting), 100).await;
    assert_eq!(unmatched::count_unresolved(&mut conn).await.unwrap(), 3);
    assert_eq!(unresolved_ids(&db).await, vec![unknown, waiting, parts]);

    // The rest of `parts`, completed: now all of it went back.
    let rest = create(&db, RefundSource::Unmatched(parts), 40).await;
    complete(&db, rest.id).await;
    assert_eq!(unmatched::count_unresolved(&mut conn).await.unwrap(), 2);
    assert_eq!(unresolved_ids(&db).await, vec![unknown, waiting]);
    // Resolved rows are still there, for whoever asks for all of them.
    assert_eq!(unmatched::count(&mut conn).await.unwrap(), 4);

    let mut sums = unmatched::refunded(&mut conn, &[parts, waiting, unknown])
        .await
        .unwrap();
    sums.sort();
    assert_eq!(
        sums,
        vec![
            (parts, "completed".to_owned(), 100),
            (waiting, "awaiting_signature".to_owned(), 100),
        ]
    );
}

#[tokio::test]
async fn refunds_page_newest_first_by_status_with_a_keyset() {
    let db = TestDb::new().await;
    let source = RefundSource::Unmatched(unmatched_of(&db, 1, Some(1_000), None).await);
    let mut made = Vec::new();
    for _ in 0..5 {
        made.push(create(&db, source, 10).await.id);
    }
    complete(&db, made[1]).await;
    refunds::cancel(&mut db.conn().await, made[3])
        .await
        .unwrap();
    let mut conn = db.conn().await;
    let ids = |rows: Vec<RefundRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();

    let awaiting = refund_lists::newest(&mut conn, Some(refunds::AWAITING_SIGNATURE), None, 2)
        .await
        .unwrap();
    assert_eq!(ids(awaiting), vec![made[4], made[2]]);
    let older = refund_lists::newest(
        &mut conn,
        Some(refunds::AWAITING_SIGNATURE),
        Some(made[2]),
        2,
    )
    .await
    .unwrap();
    assert_eq!(ids(older), vec![made[0]]);
    let all = refund_lists::newest(&mut conn, None, None, 50)
        .await
        .unwrap();
    assert_eq!(ids(all), made.iter().rev().copied().collect::<Vec<_>>());
    let completed = refund_lists::newest(&mut conn, Some(refunds::COMPLETED), None, 50)
        .await
        .unwrap();
    assert_eq!(ids(completed), vec![made[1]]);
}

#[tokio::test]
async fn a_session_lists_its_own_refunds_and_those_of_its_late_payments() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let s = orbitpay_store::sessions::insert(&mut conn, &new_session(account(1)))
        .await
        .unwrap();
    let other = orbitpay_store::sessions::insert(&mut conn, &new_session(account(1)))
        .await
        .unwrap();
    db.exec(&format!(
        "UPDATE sessions SET amount_received = 150000000, status = 'paid' WHERE id = '{}'",
        s.id
    ))
    .await;
    let overpaid = create(&db, RefundSource::Session(s.id), 50_000_000).await;
    let late = unmatched_of(&db, 5, Some(200), Some(s.id)).await;
    let of_late = create(&db, RefundSource::Unmatched(late), 200).await;
    let elsewhere = unmatched_of(&db, 6, Some(200), Some(other.id)).await;
    create(&db, RefundSource::Unmatched(elsewhere), 200).await;
    let stray = unmatched_of(&db, 7, Some(200), None).await;
    create(&db, RefundSource::Unmatched(stray), 200).await;

    let listed: Vec<Uuid> = refund_lists::for_session(&mut conn, s.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, vec![of_late.id, overpaid.id]);
}

#[tokio::test]
async fn the_awaiting_figures_count_and_add_up_per_asset() {
    let db = TestDb::new().await;
    let a = RefundSource::Unmatched(unmatched_of(&db, 1, Some(i64::MAX), None).await);
    let b = RefundSource::Unmatched(unmatched_of(&db, 2, Some(i64::MAX), None).await);
    create(&db, a, i64::MAX - 1).await;
    create(&db, b, i64::MAX - 1).await;
    let done = create(&db, a, 1).await;
    complete(&db, done.id).await;
    let gone = create(&db, b, 1).await;
    refunds::cancel(&mut db.conn().await, gone.id)
        .await
        .unwrap();

    let totals = refund_lists::awaiting_totals(&mut db.conn().await)
        .await
        .unwrap();
    assert_eq!(
        totals,
        vec![Awaiting {
            asset: "native".into(),
            count: 2,
            stroops: 2 * i128::from(i64::MAX - 1),
        }],
        "past i64 when added up; completed and canceled ones left out"
    );
}
