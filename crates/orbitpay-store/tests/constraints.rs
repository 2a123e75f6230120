//! The database itself refuses double credits and inconsistent claims, even
//! if application code gets it wrong.

mod common;

use chrono::Utc;
use common::{account, new_session, tx_hash};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use orbitpay_core::SessionStatus;
use orbitpay_store::models::{NewPayment, PaymentOperationRow, PgSessionStatus, Session};
use orbitpay_store::schema::{payment_operations, payments, sessions};
use orbitpay_testkit::TestDb;

fn violation(result: QueryResult<usize>) -> (DatabaseErrorKind, String) {
    match result {
        Err(Error::DatabaseError(kind, info)) => {
            (kind, info.constraint_name().unwrap_or_default().to_owned())
        }
        other => panic!("expected a constraint violation, got {other:?}"),
    }
}

async fn session(conn: &mut AsyncPgConnection) -> Session {
    orbitpay_store::sessions::insert(conn, &new_session(account(1)))
        .await
        .unwrap()
}

fn payment(session: &Session, hash: u8) -> NewPayment {
    NewPayment {
        session_id: session.id,
        tx_hash: tx_hash(hash),
        amount: 50,
        asset: "native".into(),
        ledger: 1000,
        inner_tx_hash: None,
        from_address: None,
    }
}

#[tokio::test]
async fn a_transaction_credits_a_session_at_most_once() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let s = session(&mut conn).await;
    let insert = |p: NewPayment| diesel::insert_into(payments::table).values(p);

    insert(payment(&s, 1)).execute(&mut conn).await.unwrap();
    insert(payment(&s, 2)).execute(&mut conn).await.unwrap();
    let (kind, constraint) = violation(insert(payment(&s, 1)).execute(&mut conn).await);

    assert!(matches!(kind, DatabaseErrorKind::UniqueViolation));
    assert_eq!(constraint, "payments_tx_hash_session_id_key");
}

#[tokio::test]
async fn an_operation_is_credited_at_most_once_to_an_account() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let s = session(&mut conn).await;
    let payment_ids: Vec<i64> = diesel::insert_into(payments::table)
        .values(vec![payment(&s, 1), payment(&s, 2)])
        .returning(payments::id)
        .get_results(&mut conn)
        .await
        .unwrap();
    let op = |payment_id| PaymentOperationRow {
        op_id: 123_456_789_012,
        payment_id,
        amount: 50,
        account: s.account.to_string(),
    };

    diesel::insert_into(payment_operations::table)
        .values(op(payment_ids[0]))
        .execute(&mut conn)
        .await
        .unwrap();
    // Even under another payment.
    let (kind, constraint) = violation(
        diesel::insert_into(payment_operations::table)
            .values(op(payment_ids[1]))
            .execute(&mut conn)
            .await,
    );

    assert!(matches!(kind, DatabaseErrorKind::UniqueViolation));
    assert_eq!(constraint, "payment_operations_pkey");
}

#[tokio::test]
async fn processing_status_and_claim_columns_go_together() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let s = session(&mut conn).await;
    let target = sessions::table.find(s.id);

    let processing_without_claim = diesel::update(target)
        .set(sessions::status.eq(PgSessionStatus(SessionStatus::Processing)))
        .execute(&mut conn)
        .await;
    let (kind, constraint) = violation(processing_without_claim);
    assert!(matches!(kind, DatabaseErrorKind::CheckViolation));
    assert_eq!(constraint, "sessions_processing_claim");

    let processing_without_time = diesel::update(target)
        .set((
            sessions::status.eq(PgSessionStatus(SessionStatus::Processing)),
            sessions::processing_tx_hash.eq(tx_hash(9)),
        ))
        .execute(&mut conn)
        .await;
    assert_eq!(
        violation(processing_without_time).1,
        "sessions_processing_claim"
    );

    let pending_with_claim = diesel::update(target)
        .set((
            sessions::processing_tx_hash.eq(tx_hash(9)),
            sessions::processing_started_at.eq(Utc::now()),
        ))
        .execute(&mut conn)
        .await;
    assert_eq!(violation(pending_with_claim).1, "sessions_processing_claim");

    let uppercase_hash = diesel::update(target)
        .set((
            sessions::status.eq(PgSessionStatus(SessionStatus::Processing)),
            sessions::processing_tx_hash.eq(tx_hash(0xab).to_uppercase()),
            sessions::processing_started_at.eq(diesel::dsl::now),
        ))
        .execute(&mut conn)
        .await;
    assert!(matches!(
        violation(uppercase_hash).0,
        DatabaseErrorKind::CheckViolation
    ));

    let processing_without_source = diesel::update(target)
        .set((
            sessions::status.eq(PgSessionStatus(SessionStatus::Processing)),
            sessions::processing_tx_hash.eq(tx_hash(9)),
            sessions::processing_started_at.eq(diesel::dsl::now),
        ))
        .execute(&mut conn)
        .await;
    assert_eq!(
        violation(processing_without_source).1,
        "sessions_processing_claim"
    );

    let unknown_source = diesel::update(target)
        .set((
            sessions::status.eq(PgSessionStatus(SessionStatus::Processing)),
            sessions::processing_tx_hash.eq(tx_hash(9)),
            sessions::processing_started_at.eq(diesel::dsl::now),
            sessions::claim_source.eq("wallet"),
        ))
        .execute(&mut conn)
        .await;
    assert!(matches!(
        violation(unknown_source).0,
        DatabaseErrorKind::CheckViolation
    ));

    let pending_with_source = diesel::update(target)
        .set(sessions::claim_source.eq("stream"))
        .execute(&mut conn)
        .await;
    assert_eq!(
        violation(pending_with_source).1,
        "sessions_processing_claim"
    );

    diesel::update(target)
        .set((
            sessions::status.eq(PgSessionStatus(SessionStatus::Processing)),
            sessions::processing_tx_hash.eq(tx_hash(9)),
            sessions::processing_started_at.eq(diesel::dsl::now),
            sessions::claim_source.eq("client_report"),
        ))
        .execute(&mut conn)
        .await
        .expect("a complete claim is accepted");
    let claimed = orbitpay_store::sessions::find(&mut conn, s.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.status, SessionStatus::Processing);
    let claim = claimed.processing.unwrap();
    assert_eq!(claim.tx_hash.to_string(), tx_hash(9));
    assert_eq!(claim.source, orbitpay_store::ClaimSource::ClientReport);
}

#[tokio::test]
async fn every_update_bumps_version_and_updated_at() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let s = session(&mut conn).await;
    assert_eq!(s.version, 0);

    diesel::update(sessions::table.find(s.id))
        .set(sessions::amount_received.eq(10))
        .execute(&mut conn)
        .await
        .unwrap();
    diesel::update(sessions::table.find(s.id))
        .set(sessions::amount_received.eq(20))
        .execute(&mut conn)
        .await
        .unwrap();

    let after = orbitpay_store::sessions::find(&mut conn, s.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.version, 2);
    assert!(after.updated_at > s.updated_at);
    assert_eq!(after.created_at, s.created_at);
}

#[tokio::test]
async fn amounts_must_be_positive_and_accounts_well_formed() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let s = session(&mut conn).await;

    let zero_amount = diesel::update(sessions::table.find(s.id))
        .set(sessions::amount.eq(0))
        .execute(&mut conn)
        .await;
    assert_eq!(violation(zero_amount).1, "sessions_amount_check");

    let zero_payment = diesel::insert_into(payments::table)
        .values(NewPayment {
            amount: 0,
            ..payment(&s, 1)
        })
        .execute(&mut conn)
        .await;
    assert_eq!(violation(zero_payment).1, "payments_amount_check");

    let bad_account = diesel::update(sessions::table.find(s.id))
        .set(sessions::account.eq("not-an-account"))
        .execute(&mut conn)
        .await;
    assert_eq!(violation(bad_account).1, "sessions_account_check");
}
