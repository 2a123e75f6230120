//! Refunds in the store: what one source received is never refunded twice over, even by two
//! requests at once; a canceled refund gives its amount back; only an awaiting refund can be
//! re-prepared or canceled; every change writes its event.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{account, new_session, tx_hash};
use diesel::prelude::*;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use orbitpay_core::UnmatchedReason;
use orbitpay_store::models::{NewUnmatchedPayment, RefundRow, UnmatchedPaymentRow};
use orbitpay_store::numeric::I128Numeric;
use orbitpay_store::refunds::{self, Change, CreateRefused, RefundSource};
use orbitpay_store::schema::unmatched_payments;
use orbitpay_testkit::TestDb;
use uuid::Uuid;

async fn unmatched(db: &TestDb, stroops: i64) -> i64 {
    let row: UnmatchedPaymentRow = diesel::insert_into(unmatched_payments::table)
        .values(NewUnmatchedPayment {
            op_id: 7 << 32,
            tx_hash: tx_hash(3),
            account: account(1).to_string(),
            amount: Some(I128Numeric(i128::from(stroops))),
            asset: Some("native".into()),
            from_address: Some(account(2).to_string()),
            memo_type: None,
            memo_value: None,
            memo_bytes: None,
            muxed_id: None,
            reason: UnmatchedReason::NoReference,
            session_id: None,
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
        memo_type: "return".into(),
        memo_value: Some(tx_hash(3)),
        memo_bytes: Some(vec![3; 32]),
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

#[tokio::test]
async fn an_unmatched_payment_is_refunded_once_and_a_cancel_gives_its_amount_back() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let source = RefundSource::Unmatched(unmatched(&db, 100).await);

    let first = refunds::create(&mut conn, &refund(source, 100))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.status, "awaiting_signature");
    assert_eq!(
        refunds::create(&mut conn, &refund(source, 1))
            .await
            .unwrap(),
        Err(CreateRefused::Exceeds { left: 0 })
    );
    let Change::Done(canceled) = refunds::cancel(&mut conn, first.id).await.unwrap() else {
        panic!("cancel an awaiting refund")
    };
    assert_eq!(canceled.status, "canceled");
    assert!(
        refunds::create(&mut conn, &refund(source, 100))
            .await
            .unwrap()
            .is_ok(),
        "a canceled refund takes nothing"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM outbox_events WHERE event_type LIKE 'refund.%'")
            .await,
        3
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM outbox_events WHERE event_type = 'refund.canceled'
             AND payload->>'refund_id' IS NOT NULL AND payload->>'amount' = '0.0000100'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_session_defaults_to_its_overpaid_part_and_may_be_refunded_partly_down_to_all() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let s = orbitpay_store::sessions::insert(&mut conn, &new_session(account(1)))
        .await
        .unwrap();
    // Priced at 100,000,000 stroops, paid 150,000,000.
    db.exec(&format!(
        "UPDATE sessions SET amount_received = 150000000, status = 'paid' WHERE id = '{}'",
        s.id
    ))
    .await;
    let source = RefundSource::Session(s.id);
    let r = refunds::refundable(&mut conn, source)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.overpaid_left(), r.left()), (50_000_000, 150_000_000));

    refunds::create(&mut conn, &refund(source, 30_000_000))
        .await
        .unwrap()
        .unwrap();
    let r = refunds::refundable(&mut conn, source)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.overpaid_left(), r.left()), (20_000_000, 120_000_000));
    // More than the overpaid part: a partial refund of the paid amount itself.
    refunds::create(&mut conn, &refund(source, 120_000_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        refunds::create(&mut conn, &refund(source, 1))
            .await
            .unwrap(),
        Err(CreateRefused::Exceeds { left: 0 })
    );
}

#[tokio::test]
async fn a_refund_in_another_asset_or_of_a_missing_source_is_refused() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let source = RefundSource::Unmatched(unmatched(&db, 100).await);
    let mut usdc = refund(source, 10);
    usdc.asset = format!("USDC:{}", account(9));
    assert_eq!(
        refunds::create(&mut conn, &usdc).await.unwrap(),
        Err(CreateRefused::AssetMismatch {
            received: Some("native".into())
        })
    );
    assert_eq!(
        refunds::create(&mut conn, &refund(RefundSource::Unmatched(999), 10))
            .await
            .unwrap(),
        Err(CreateRefused::SourceMissing)
    );
}

/// Both requests read the source while a third transaction holds its lock, so both would see
/// nothing refunded yet; the lock makes the second wait for the first's commit and refuse.
#[tokio::test]
async fn of_two_concurrent_refunds_that_do_not_both_fit_the_second_is_refused() {
    let db = TestDb::new().await;
    let id = unmatched(&db, 100).await;
    let source = RefundSource::Unmatched(id);
    let mut blocker = db.conn().await;
    blocker
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM unmatched_payments WHERE id = {id} FOR NO KEY UPDATE"
        ))
        .await
        .unwrap();
    let spawn = |amount| {
        let url = db.url().to_owned();
        tokio::spawn(async move {
            let mut conn =
                orbitpay_store::establish(&url, &orbitpay_store::SessionSettings::default())
                    .await
                    .unwrap();
            refunds::create(&mut conn, &refund(source, amount))
                .await
                .unwrap()
        })
    };
    let (a, b) = (spawn(60), spawn(60));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !a.is_finished() && !b.is_finished(),
        "both wait for the lock"
    );
    blocker.batch_execute("COMMIT").await.unwrap();
    let mut outcomes = vec![a.await.unwrap(), b.await.unwrap()];
    outcomes.sort_by_key(|o| o.is_err());
    assert!(outcomes[0].is_ok(), "{outcomes:?}");
    assert_eq!(outcomes[1], Err(CreateRefused::Exceeds { left: 40 }));
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM refunds WHERE unmatched_id = {id}"
        ))
        .await,
        1
    );
}

#[tokio::test]
async fn only_an_awaiting_refund_is_prepared_again_or_canceled() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let source = RefundSource::Unmatched(unmatched(&db, 100).await);
    let r = refunds::create(&mut conn, &refund(source, 10))
        .await
        .unwrap()
        .unwrap();
    let later = Utc::now() + chrono::Duration::minutes(15);
    let Change::Done(fresh) = refunds::replace_envelope(&mut conn, r.id, "BBBB", 43, later)
        .await
        .unwrap()
    else {
        panic!("an awaiting refund is prepared again")
    };
    assert_eq!((fresh.envelope_xdr.as_str(), fresh.sequence), ("BBBB", 43));
    refunds::cancel(&mut conn, r.id).await.unwrap();
    assert!(matches!(
        refunds::replace_envelope(&mut conn, r.id, "CCCC", 44, later)
            .await
            .unwrap(),
        Change::NotAwaiting(_)
    ));
    assert!(matches!(
        refunds::cancel(&mut conn, r.id).await.unwrap(),
        Change::NotAwaiting(_)
    ));
    assert_eq!(
        refunds::cancel(&mut conn, Uuid::now_v7()).await.unwrap(),
        Change::NotFound
    );
    let listed = refunds::list_after(&mut conn, None, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        refunds::list_after(&mut conn, Some(r.id), 10)
            .await
            .unwrap()
            .is_empty()
    );
}
