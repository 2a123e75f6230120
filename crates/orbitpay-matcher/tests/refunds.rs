//! Refunds completed by the ledger: the merchant's own payment (or claimable balance) with a
//! refund's destination, asset, amount and memo completes it in the settle transaction,
//! exactly once; a refund-like payment that completes none is recorded with why; a plain
//! outgoing payment leaves nothing.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::*;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use orbitpay_core::{Address, Asset, LedgerRecord, Memo, Operation, TransferKind};
use orbitpay_matcher::{Matcher, MatcherConfig};
use orbitpay_store::models::{OutgoingPaymentRow, RefundRow};
use orbitpay_store::refunds::{self, RefundSource};
use orbitpay_store::schema::outgoing_payments;
use orbitpay_store::settlement::{Applied, OutgoingReason};
use uuid::Uuid;

/// The close time every outgoing record here carries (unix seconds).
const CLOSED_AT: i64 = 1_780_000_000;
const PAID_BACK: Memo = Memo::Return([0x5a; 32]);

fn payer() -> Address {
    Address::Account(account(PAYER))
}

/// The merchant sends `amt` of native to `to`, in transaction `tx`.
fn send(tx: u64, to: Address, amt: &str, memo: Memo) -> LedgerRecord {
    let mut r = transfer(
        tx,
        0,
        TransferKind::Payment,
        merchant(),
        to,
        Asset::Native,
        amt,
        memo,
    );
    r.closed_at = Some(CLOSED_AT);
    r
}

/// Money that reached no session: the source a refund sends back.
async fn unmatched_source(f: &Fixture, amt: &str) -> i64 {
    f.handle(&[pay(1, 0, merchant(), Asset::Native, amt, Memo::None)])
        .await;
    f.count("SELECT max(id) FROM unmatched_payments").await
}

async fn refund(
    f: &Fixture,
    source: i64,
    amt: &str,
    destination: Address,
    method: &str,
) -> RefundRow {
    let now = Utc::now();
    let row = RefundRow {
        id: Uuid::now_v7(),
        unmatched_id: Some(source),
        session_id: None,
        account: f.account.to_string(),
        amount: amount(amt).stroops(),
        asset: "native".into(),
        destination: destination.to_string(),
        memo_type: "return".into(),
        memo_value: Some("5a".repeat(32)),
        memo_bytes: Some(vec![0x5a; 32]),
        method: method.into(),
        status: refunds::AWAITING_SIGNATURE.into(),
        envelope_xdr: "AAAA".into(),
        sequence: 42,
        valid_until: now,
        tx_hash: None,
        closed_at: None,
        created_at: now,
        updated_at: now,
    };
    refunds::create(&mut f.db.conn().await, &row)
        .await
        .unwrap()
        .unwrap()
}

async fn reload(f: &Fixture, r: &RefundRow) -> RefundRow {
    refunds::find(&mut f.db.conn().await, r.id)
        .await
        .unwrap()
        .unwrap()
}

async fn completed_events(f: &Fixture) -> i64 {
    f.count("SELECT count(*) FROM outbox_events WHERE event_type = 'refund.completed'")
        .await
}

#[tokio::test]
async fn the_merchants_payment_back_completes_the_refund_once_with_the_ledger_close_time() {
    let f = Fixture::new().await;
    let source = unmatched_source(&f, "5").await;
    let r = refund(&f, source, "5", payer(), "payment").await;
    let out = send(2, payer(), "5", PAID_BACK);

    f.handle(std::slice::from_ref(&out)).await;
    let done = reload(&f, &r).await;
    assert_eq!(done.status, refunds::COMPLETED);
    assert_eq!(done.tx_hash, Some(out.tx_hash.to_string()));
    assert_eq!(done.closed_at, DateTime::from_timestamp(CLOSED_AT, 0));
    assert_eq!(
        f.cursor().await,
        Some(out.op_id),
        "in the cursor's transaction"
    );
    assert_eq!(completed_events(&f).await, 1);
    let row: OutgoingPaymentRow = outgoing_payments::table
        .select(OutgoingPaymentRow::as_select())
        .first(&mut f.db.conn().await)
        .await
        .unwrap();
    assert_eq!(
        (row.op_id, row.refund_id, row.reason, row.method.as_str()),
        (out.op_id, Some(r.id), None, "payment")
    );
    assert_eq!(row.destination, Some(payer().to_string()));
    assert_eq!(
        (row.amount, row.memo_type.as_str(), row.memo_bytes),
        (50_000_000, "return", Some(vec![0x5a; 32]))
    );
    // A completed refund still takes its amount from what the source can refund.
    let left = refunds::refundable(&mut f.db.conn().await, RefundSource::Unmatched(source))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((left.refunded, left.left()), (amount("5").stroops(), 0));

    // A re-read of the stream and reconciliation meet it handled: nothing more is written.
    f.handle(std::slice::from_ref(&out)).await;
    assert_eq!(
        f.matcher
            .settle_again(&f.account, std::slice::from_ref(&out))
            .await
            .unwrap(),
        vec![Applied::AlreadyHandled]
    );
    assert_eq!(completed_events(&f).await, 1);
    assert_eq!(f.count("SELECT count(*) FROM outgoing_payments").await, 1);
    assert_eq!(reload(&f, &r).await, done);
}

#[tokio::test]
async fn a_claimable_balance_for_the_payer_completes_a_claimable_balance_refund() {
    let f = Fixture::new().await;
    let source = unmatched_source(&f, "3").await;
    let r = refund(&f, source, "3", payer(), "claimable_balance").await;
    let mut balance = record(
        2,
        0,
        PAID_BACK,
        Operation::CreateClaimableBalance {
            source: merchant(),
            asset: Asset::Native,
            amount: amount("3"),
            // The merchant may keep itself as a claimant, to take an unclaimed refund back.
            claimants: vec![account(PAYER), account(MERCHANT)],
        },
    );
    balance.closed_at = Some(CLOSED_AT);
    f.handle(&[balance]).await;
    assert_eq!(reload(&f, &r).await.status, refunds::COMPLETED);
    assert_eq!(
        f.count("SELECT count(*) FROM outgoing_payments WHERE method = 'claimable_balance' AND refund_id IS NOT NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn two_instances_settling_the_same_payment_complete_the_refund_once() {
    let f = Fixture::new().await;
    let source = unmatched_source(&f, "5").await;
    let r = refund(&f, source, "5", payer(), "payment").await;
    let other = Matcher::new(
        f.db.pool(),
        Arc::new(
            orbitpay_horizon::HorizonSource::new(orbitpay_horizon::HorizonConfig::new(
                f.server.base_url().parse().unwrap(),
            ))
            .unwrap(),
        ),
        MatcherConfig::default(),
    );
    let out = vec![Ok(send(2, payer(), "5", PAID_BACK))];
    let up_to = toid_of(&out);
    let (a, b) = tokio::join!(
        f.matcher.handle(&f.account, &out, up_to),
        other.handle(&f.account, &out, up_to)
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(reload(&f, &r).await.status, refunds::COMPLETED);
    assert_eq!(completed_events(&f).await, 1);
    assert_eq!(f.count("SELECT count(*) FROM outgoing_payments").await, 1);
}

fn toid_of(records: &[orbitpay_horizon::FetchedRecord]) -> i64 {
    records.last().unwrap().as_ref().unwrap().op_id
}

#[tokio::test]
async fn a_wrong_amount_is_recorded_and_the_refund_still_awaits() {
    let f = Fixture::new().await;
    let source = unmatched_source(&f, "5").await;
    let r = refund(&f, source, "5", payer(), "payment").await;
    let short = send(2, payer(), "4.9", PAID_BACK);
    let applied = f
        .matcher
        .settle_again(&f.account, std::slice::from_ref(&short))
        .await
        .unwrap();
    assert_eq!(
        applied,
        vec![Applied::OutgoingRecorded {
            reason: OutgoingReason::WrongAmount,
            near_refund_id: Some(r.id)
        }]
    );
    assert_eq!(reload(&f, &r).await.status, refunds::AWAITING_SIGNATURE);
    assert_eq!(completed_events(&f).await, 0);
    assert_eq!(
        f.count(&format!(
            "SELECT count(*) FROM outgoing_payments WHERE reason = 'wrong_amount'
               AND near_refund_id = '{}' AND amount = 49000000 AND refund_id IS NULL",
            r.id
        ))
        .await,
        1
    );
    // The right payment afterwards still completes it.
    f.handle(&[send(3, payer(), "5", PAID_BACK)]).await;
    assert_eq!(reload(&f, &r).await.status, refunds::COMPLETED);
}

#[tokio::test]
async fn money_sent_for_a_canceled_refund_is_recorded_as_such() {
    let f = Fixture::new().await;
    let source = unmatched_source(&f, "5").await;
    let r = refund(&f, source, "5", payer(), "payment").await;
    refunds::cancel(&mut f.db.conn().await, r.id).await.unwrap();
    f.handle(&[send(2, payer(), "5", PAID_BACK)]).await;
    assert_eq!(reload(&f, &r).await.status, refunds::CANCELED);
    assert_eq!(
        f.count("SELECT count(*) FROM outgoing_payments WHERE reason = 'refund_canceled'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_plain_outgoing_payment_is_not_recorded_and_does_not_halt() {
    let f = Fixture::new().await;
    let source = unmatched_source(&f, "5").await;
    let r = refund(&f, source, "5", payer(), "payment").await;
    let supplier = Address::Account(account(9));
    let records = [
        send(2, supplier, "5", Memo::Id(77)),
        // A MEMO_RETURN to someone no refund names still looks like a refund.
        send(3, supplier, "1", PAID_BACK),
        pay(4, 0, muxed(8), Asset::Native, "1", Memo::None),
    ];
    f.handle(&records).await;
    assert_eq!(f.cursor().await, Some(records[2].op_id));
    assert_eq!(
        f.count("SELECT count(*) FROM outgoing_payments").await,
        1,
        "only the MEMO_RETURN"
    );
    assert_eq!(
        f.count(&format!(
            "SELECT count(*) FROM outgoing_payments WHERE op_id = {} AND reason = 'no_refund'",
            records[1].op_id
        ))
        .await,
        1
    );
    assert_eq!(reload(&f, &r).await.status, refunds::AWAITING_SIGNATURE);
}

#[tokio::test]
async fn a_muxed_payer_is_paid_back_at_its_m_address_and_only_there() {
    let f = Fixture::new().await;
    let source = unmatched_source(&f, "2").await;
    let m = Address::Muxed(orbitpay_core::MuxedAccount::new(account(PAYER), 31));
    let r = refund(&f, source, "2", m, "payment").await;
    // The payer's G account is not the address the refund names: near, not it.
    f.handle(&[send(2, payer(), "2", PAID_BACK)]).await;
    assert_eq!(reload(&f, &r).await.status, refunds::AWAITING_SIGNATURE);
    assert_eq!(
        f.count("SELECT count(*) FROM outgoing_payments WHERE reason = 'no_refund'")
            .await,
        1
    );
    f.handle(&[send(3, m, "2", PAID_BACK)]).await;
    assert_eq!(reload(&f, &r).await.status, refunds::COMPLETED);
}
