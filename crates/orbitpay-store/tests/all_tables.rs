//! Every model loads every column of its table: schema.rs and the migrations
//! agree on names, types and nullability.

mod common;

use common::{account, new_session, tx_hash};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use orbitpay_core::UnmatchedReason;
use orbitpay_store::models::*;
use orbitpay_store::numeric::{I128Numeric, U64Numeric};
use orbitpay_store::schema::*;
use orbitpay_testkit::TestDb;

#[tokio::test]
async fn every_table_round_trips_through_its_model() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let s = orbitpay_store::sessions::insert(&mut conn, &new_session(account(1)))
        .await
        .unwrap();

    let session_row: SessionRow = sessions::table
        .select(SessionRow::as_select())
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(Session::try_from(session_row).unwrap(), s);

    let payment: PaymentRow = diesel::insert_into(payments::table)
        .values(NewPayment {
            session_id: s.id,
            tx_hash: tx_hash(1),
            amount: 70,
            asset: "native".into(),
            ledger: 42,
            inner_tx_hash: None,
            from_address: None,
        })
        .returning(PaymentRow::as_returning())
        .get_result(&mut conn)
        .await
        .unwrap();
    let op = PaymentOperationRow {
        op_id: 1 << 40,
        payment_id: payment.id,
        amount: 70,
        account: s.account.to_string(),
    };
    let loaded_op: PaymentOperationRow = diesel::insert_into(payment_operations::table)
        .values(&op)
        .returning(PaymentOperationRow::as_returning())
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(loaded_op, op);

    let memo = vec![0xff, 0x00, b'x'];
    let unmatched: UnmatchedPaymentRow = diesel::insert_into(unmatched_payments::table)
        .values(NewUnmatchedPayment {
            op_id: 99,
            tx_hash: tx_hash(2),
            account: account(1).to_string(),
            amount: Some(I128Numeric(i128::MAX)),
            asset: Some("native".into()),
            from_address: Some(account(2).to_string()),
            memo_type: Some("text".into()),
            memo_value: None,
            memo_bytes: Some(memo.clone()),
            muxed_id: Some(U64Numeric(u64::MAX)),
            reason: UnmatchedReason::SessionExpired,
            session_id: Some(s.id),
            ledger: Some(43),
            detail: None,
            raw_operation: None,
        })
        .returning(UnmatchedPaymentRow::as_returning())
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(unmatched.reason, UnmatchedReason::SessionExpired);
    assert_eq!(
        unmatched.memo_bytes,
        Some(memo),
        "invalid UTF-8 kept byte for byte"
    );
    assert_eq!(unmatched.amount, Some(I128Numeric(i128::MAX)));
    assert_eq!(unmatched.muxed_id, Some(U64Numeric(u64::MAX)));
    let by_reason: i64 = unmatched_payments::table
        .filter(unmatched_payments::reason.eq(PgUnmatchedReason(UnmatchedReason::SessionExpired)))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(by_reason, 1);

    let key: IdempotencyKeyRow = diesel::insert_into(idempotency_keys::table)
        .values(NewIdempotencyKey {
            key: "order 42 / attempt #1".into(),
            request_fingerprint: vec![7; 32],
            locked_at: Some(chrono::Utc::now()),
        })
        .returning(IdempotencyKeyRow::as_returning())
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(key.response_status, None);

    orbitpay_store::cursors::set(&conn, &account(1), 5)
        .await
        .unwrap();
    let cursor: StreamCursorRow = stream_cursors::table
        .select(StreamCursorRow::as_select())
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(cursor.paging_token, 5);

    let event: OutboxEventRow = diesel::insert_into(outbox_events::table)
        .values(NewOutboxEvent {
            event_id: uuid::Uuid::now_v7(),
            event_type: "session.paid".into(),
            session_id: Some(s.id),
            payload: serde_json::json!({ "id": s.id }),
        })
        .returning(OutboxEventRow::as_returning())
        .get_result(&mut conn)
        .await
        .unwrap();
    let delivery: WebhookDeliveryRow = diesel::insert_into(webhook_deliveries::table)
        .values(NewWebhookDelivery {
            event_id: event.event_id,
            url: "https://example.com/hook".into(),
        })
        .returning(WebhookDeliveryRow::as_returning())
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(delivery.state, DeliveryState::Pending);
    assert_eq!(delivery.attempts, 0);

    let unreadable: UnreadableRecordRow = diesel::insert_into(unreadable_records::table)
        .values(NewUnreadableRecord {
            account: account(1).to_string(),
            paging_token: 1 << 40,
            raw: vec![0xff, b'{'],
            raw_truncated: true,
            parse_error: "not JSON".into(),
            attempts: 5,
        })
        .returning(UnreadableRecordRow::as_returning())
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(unreadable.raw, vec![0xff, b'{']);
    assert_eq!((unreadable.attempts, unreadable.resolved_at), (5, None));
}

#[tokio::test]
async fn idempotency_keys_must_be_printable_ascii_up_to_255() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let insert = |key: String| {
        diesel::insert_into(idempotency_keys::table).values(NewIdempotencyKey {
            key,
            request_fingerprint: vec![0; 32],
            locked_at: None,
        })
    };

    for bad in [
        String::new(),
        "x".repeat(256),
        "tab\there".into(),
        "é".into(),
    ] {
        assert!(
            insert(bad.clone()).execute(&mut conn).await.is_err(),
            "{bad:?}"
        );
    }
    insert("~".repeat(255)).execute(&mut conn).await.unwrap();
}
