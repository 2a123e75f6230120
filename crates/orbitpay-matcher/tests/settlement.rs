//! The matcher against real PostgreSQL: every credit ends up exactly once, either credited to a
//! session or recorded as unmatched, whatever is redelivered or raced.

mod common;

use common::*;
use orbitpay_core::{
    Address, Asset, BalanceChange, ContractAmount, ContractId, Memo, Operation, SessionStatus,
    TransferKind, UnmatchedReason, toid,
};
use orbitpay_store::settlement::{self, Intent, Item};

#[tokio::test]
async fn a_muxed_payment_claims_then_settles_the_session() {
    let f = Fixture::new().await;
    let s = f.session(Asset::Native, "12.5", 42).await;
    let r = pay(1, 1, muxed(42), Asset::Native, "12.5", Memo::None);
    f.handle(std::slice::from_ref(&r)).await;

    let s = f.reload(&s).await;
    assert_eq!(s.status, SessionStatus::Paid);
    assert_eq!(s.amount_received, amount("12.5"));
    assert!(s.processing.is_none());
    assert_eq!(f.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(f.cursor().await, Some(r.op_id));
    let events = f.count("SELECT count(*) FROM outbox_events WHERE event_type IN ('session.processing', 'session.paid')").await;
    assert_eq!(
        events, 2,
        "the claim and the settlement each wrote their event"
    );
}

#[tokio::test]
async fn a_memo_id_or_exact_text_memo_names_the_session() {
    let f = Fixture::new().await;
    let by_id = f.session(Asset::Native, "1", 7).await;
    let by_text = f.session(Asset::Native, "1", 8).await;
    f.handle(&[
        pay(1, 1, merchant(), Asset::Native, "1", Memo::Id(7)),
        pay(
            2,
            1,
            merchant(),
            Asset::Native,
            "1",
            Memo::text(b"8".to_vec()).unwrap(),
        ),
    ])
    .await;
    assert_eq!(f.reload(&by_id).await.status, SessionStatus::Paid);
    assert_eq!(f.reload(&by_text).await.status, SessionStatus::Paid);
}

#[tokio::test]
async fn an_underpayment_returns_to_pending_and_a_top_up_pays() {
    let f = Fixture::new().await;
    let s = f.session(Asset::Native, "10", 5).await;
    f.handle(&[pay(1, 1, muxed(5), Asset::Native, "4", Memo::None)])
        .await;
    let after_first = f.reload(&s).await;
    assert_eq!(
        (after_first.status, after_first.amount_received),
        (SessionStatus::Pending, amount("4"))
    );

    f.handle(&[pay(2, 1, muxed(5), Asset::Native, "7", Memo::None)])
        .await;
    let paid = f.reload(&s).await;
    assert_eq!(
        (paid.status, paid.amount_received),
        (SessionStatus::Paid, amount("11"))
    );
    assert!(paid.is_overpaid());
    assert_eq!(f.count("SELECT count(*) FROM payments").await, 2);
    assert_eq!(
        f.count("SELECT count(*) FROM outbox_events WHERE event_type = 'session.partially_paid'")
            .await,
        1
    );
}

#[tokio::test]
async fn redelivering_a_handled_record_is_a_no_op_that_still_moves_the_cursor() {
    let f = Fixture::new().await;
    let s = f.session(Asset::Native, "10", 5).await;
    let r = pay(1, 1, muxed(5), Asset::Native, "4", Memo::None);
    f.handle(std::slice::from_ref(&r)).await;
    let before = f.snapshot().await;
    f.handle_up_to(std::slice::from_ref(&r), r.op_id + 10).await;

    assert_eq!(
        f.reload(&s).await.amount_received,
        amount("4"),
        "credited once"
    );
    assert_eq!(f.count("SELECT count(*) FROM payment_operations").await, 1);
    assert_eq!(f.cursor().await, Some(r.op_id + 10));
    assert_eq!(before, f.snapshot().await);
}

#[tokio::test]
async fn a_multi_op_transaction_paying_one_session_credits_the_sum_in_one_payment_row() {
    let f = Fixture::new().await;
    let in_one_batch = f.session(Asset::Native, "10", 1).await;
    let one_by_one = f.session(Asset::Native, "10", 2).await;
    let overpaid = f.session(Asset::Native, "10", 3).await;
    f.handle(&[
        pay(1, 1, muxed(1), Asset::Native, "6", Memo::None),
        pay(1, 2, muxed(1), Asset::Native, "4", Memo::None),
    ])
    .await;
    // Live, each operation arrives on its own.
    f.handle(&[pay(2, 1, muxed(2), Asset::Native, "6", Memo::None)])
        .await;
    f.handle(&[pay(2, 2, muxed(2), Asset::Native, "4", Memo::None)])
        .await;
    // The first operation already covers the session; the second is part of the same payment.
    f.handle(&[
        pay(3, 1, muxed(3), Asset::Native, "10", Memo::None),
        pay(3, 2, muxed(3), Asset::Native, "1", Memo::None),
    ])
    .await;

    for (s, received) in [
        (&in_one_batch, "10"),
        (&one_by_one, "10"),
        (&overpaid, "11"),
    ] {
        let s = f.reload(s).await;
        assert_eq!(
            (s.status, s.amount_received),
            (SessionStatus::Paid, amount(received))
        );
        let rows = f
            .count(&format!(
                "SELECT count(*) FROM payments WHERE session_id = '{}'",
                s.id
            ))
            .await;
        assert_eq!(rows, 1, "one payments row per (tx, session)");
    }
    assert_eq!(f.count("SELECT count(*) FROM payment_operations").await, 6);
    assert_eq!(f.count("SELECT count(*) FROM unmatched_payments").await, 0);
    assert_eq!(
        f.count("SELECT count(*) FROM outbox_events WHERE event_type = 'session.overpaid'")
            .await,
        1
    );
}

#[tokio::test]
async fn late_payments_are_recorded_with_their_session_and_never_change_it() {
    let f = Fixture::new().await;
    let paid = f.session(Asset::Native, "1", 1).await;
    let expired = f.session(Asset::Native, "1", 2).await;
    let cancelled = f.session(Asset::Native, "1", 3).await;
    f.handle(&[pay(1, 1, muxed(1), Asset::Native, "1", Memo::None)])
        .await;
    f.exec(&format!(
        "UPDATE sessions SET status = 'expired' WHERE id = '{}'",
        expired.id
    ))
    .await;
    f.exec(&format!(
        "UPDATE sessions SET status = 'cancelled' WHERE id = '{}'",
        cancelled.id
    ))
    .await;
    let before: Vec<_> = [&paid, &expired, &cancelled].map(|s| s.id).to_vec();
    let versions = f.count("SELECT sum(version) FROM sessions").await;

    f.handle(&[
        pay(2, 1, muxed(1), Asset::Native, "1", Memo::None),
        pay(3, 1, muxed(2), Asset::Native, "1", Memo::None),
        pay(4, 1, muxed(3), Asset::Native, "1", Memo::None),
    ])
    .await;

    assert_eq!(
        f.count("SELECT sum(version) FROM sessions").await,
        versions,
        "no session changed"
    );
    assert_eq!(f.count("SELECT count(*) FROM payments").await, 1);
    for (id, reason) in before
        .iter()
        .zip(["already_paid", "session_expired", "session_cancelled"])
    {
        let n = f.count(&format!("SELECT count(*) FROM unmatched_payments WHERE session_id = '{id}' AND reason = '{reason}'")).await;
        assert_eq!(n, 1, "{reason}");
    }
    assert_eq!(
        f.count("SELECT count(*) FROM outbox_events WHERE event_type = 'session.late_payment'")
            .await,
        3
    );
}

#[tokio::test]
async fn coverage_every_operation_type_and_every_reason() {
    let f = Fixture::new().await;
    let native = |r| f.session(Asset::Native, "1", r);
    let (s_pay, s_strict_recv, s_strict_send, s_create, s_merge, s_sac) = (
        native(10).await,
        native(11).await,
        native(12).await,
        native(13).await,
        native(14).await,
        f.session(usdc(9), "1", 15).await,
    );
    let s_max = f.session(Asset::Native, "1", u64::MAX).await;
    let s_wrong_issuer = f.session(usdc(9), "1", 16).await;
    let payer: Address = account(PAYER).into();
    let contract = Address::Contract(ContractId::from_bytes([5; 32]));

    let mut failed = pay(20, 1, muxed(10), Asset::Native, "1", Memo::None);
    failed.successful = false;
    let records = vec![
        failed,
        pay(1, 1, muxed(10), Asset::Native, "1", Memo::None),
        transfer(
            2,
            1,
            TransferKind::PathPaymentStrictReceive,
            payer,
            muxed(11),
            Asset::Native,
            "1",
            Memo::None,
        ),
        transfer(
            3,
            1,
            TransferKind::PathPaymentStrictSend,
            payer,
            muxed(12),
            Asset::Native,
            "1",
            Memo::None,
        ),
        record(
            4,
            1,
            Memo::Id(13),
            Operation::CreateAccount {
                funder: account(PAYER),
                account: account(MERCHANT),
                starting_balance: amount("1"),
            },
        ),
        record(
            5,
            1,
            Memo::Id(14),
            Operation::AccountMerge {
                account: payer,
                into: merchant(),
                amount: Some(amount("1")),
            },
        ),
        record(
            6,
            1,
            Memo::None,
            Operation::ContractTransfers {
                changes: vec![BalanceChange {
                    change_type: "transfer".into(),
                    from: Some(contract),
                    to: Some(merchant()),
                    asset: usdc(9),
                    amount: ContractAmount::from_stroops(10_000_000).unwrap(),
                    destination_muxed_id: Some(15),
                }],
            },
        ),
        // Outgoing, self and sponsor-only records are ignored.
        transfer(
            7,
            1,
            TransferKind::Payment,
            merchant(),
            payer,
            Asset::Native,
            "5",
            Memo::None,
        ),
        transfer(
            8,
            1,
            TransferKind::Payment,
            merchant(),
            muxed(10),
            Asset::Native,
            "5",
            Memo::None,
        ),
        transfer(
            9,
            1,
            TransferKind::Payment,
            payer,
            Address::Account(account(3)),
            Asset::Native,
            "5",
            Memo::None,
        ),
        // Wrong issuer, disagreement, invalid UTF-8 text, no reference, unknown reference, unsupported.
        pay(10, 1, muxed(16), usdc(8), "1", Memo::None),
        pay(11, 1, muxed(10), Asset::Native, "1", Memo::Id(11)),
        pay(
            12,
            1,
            merchant(),
            Asset::Native,
            "1",
            Memo::text(b"1\xff0".to_vec()).unwrap(),
        ),
        pay(13, 1, merchant(), Asset::Native, "1", Memo::None),
        pay(14, 1, muxed(999), Asset::Native, "1", Memo::None),
        record(
            15,
            1,
            Memo::None,
            Operation::Unsupported {
                op_type: "liquidity_pool_deposit".into(),
                reason: "unknown type".into(),
            },
        ),
        record(
            16,
            1,
            Memo::None,
            Operation::AccountMerge {
                account: payer,
                into: merchant(),
                amount: None,
            },
        ),
        pay(
            17,
            1,
            muxed(u64::MAX),
            Asset::Native,
            "1",
            Memo::Id(u64::MAX),
        ),
    ];
    f.handle(&records).await;

    for s in [
        &s_pay,
        &s_strict_recv,
        &s_strict_send,
        &s_create,
        &s_merge,
        &s_sac,
        &s_max,
    ] {
        let s = f.reload(s).await;
        assert_eq!(
            (s.status, s.amount_received),
            (SessionStatus::Paid, amount("1")),
            "reference {}",
            s.reference
        );
    }
    assert_eq!(
        f.reload(&s_wrong_issuer).await.status,
        SessionStatus::Pending
    );
    let reasons = |op: i64| format!("SELECT count(*) FROM unmatched_payments WHERE op_id = {op}");
    let expect = [
        (10, UnmatchedReason::WrongAsset),
        (11, UnmatchedReason::AmbiguousReference),
        (12, UnmatchedReason::NoReference),
        (13, UnmatchedReason::NoReference),
        (14, UnmatchedReason::UnknownReference),
        (15, UnmatchedReason::UnsupportedOperation),
        (16, UnmatchedReason::UnsupportedOperation),
    ];
    for (tx, reason) in expect {
        let op = toid::encode(100 + tx, 1, 1);
        let n = f
            .count(&format!(
                "{} AND reason = '{}'",
                reasons(op),
                reason.as_str()
            ))
            .await;
        assert_eq!(n, 1, "tx {tx} must be recorded as {reason}");
    }
    assert_eq!(
        f.count("SELECT count(*) FROM unmatched_payments").await,
        expect.len() as i64
    );
    let bytes = f
        .count("SELECT count(*) FROM unmatched_payments WHERE memo_bytes = '\\x31ff30'::bytea")
        .await;
    assert_eq!(bytes, 1, "the exact text memo bytes are kept");
    assert_eq!(f.cursor().await, Some(records.last().unwrap().op_id));
}

#[tokio::test]
async fn a_failure_between_the_payment_insert_and_the_status_update_commits_nothing() {
    let f = Fixture::new().await;
    let s = f.session(Asset::Native, "1", 9).await;
    let r = pay(1, 1, muxed(9), Asset::Native, "1", Memo::None);
    f.handle_up_to(&[], 5).await;
    // The claim passes; the settle's session UPDATE (after the payment insert) fails with a
    // data error (anything else would be retried until it passes).
    f.exec(
        "CREATE FUNCTION fail_settle() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF OLD.status = 'processing' THEN RAISE EXCEPTION 'injected failure' USING ERRCODE = 'data_exception'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER fail_settle BEFORE UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION fail_settle();",
    )
    .await;
    let fetched = vec![Ok(r.clone())];
    let err = f
        .matcher
        .handle(&f.account, &fetched, r.op_id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, orbitpay_matcher::MatchError::Fatal(_)),
        "{err}"
    );

    assert_eq!(f.count("SELECT count(*) FROM payments").await, 0);
    assert_eq!(f.count("SELECT count(*) FROM payment_operations").await, 0);
    assert_eq!(
        f.count("SELECT count(*) FROM outbox_events WHERE event_type = 'session.paid'")
            .await,
        0
    );
    assert_eq!(f.cursor().await, Some(5), "the cursor stays where it was");
    assert_eq!(
        f.reload(&s).await.status,
        SessionStatus::Processing,
        "commit 1 (the claim) stands"
    );

    // Once the fault is gone, redelivery completes the session exactly once.
    f.exec("DROP TRIGGER fail_settle ON sessions").await;
    f.handle(std::slice::from_ref(&r)).await;
    let s = f.reload(&s).await;
    assert_eq!(
        (s.status, s.amount_received),
        (SessionStatus::Paid, amount("1"))
    );
}

#[tokio::test]
async fn a_crash_between_claim_and_settle_then_redelivery_completes_exactly_once() {
    let f = Fixture::new().await;
    let s = f.session(Asset::Native, "3", 4).await;
    let r = pay(1, 1, muxed(4), Asset::Native, "3", Memo::None);
    let intent = orbitpay_matcher::prepare::intent(&r, &f.account);
    {
        // Commit 1 only: the process dies before settling.
        let mut conn = f.db.conn().await;
        let claimed = settlement::claim(
            &mut conn,
            &f.account,
            &[Item {
                record: &r,
                intent: &intent,
            }],
        )
        .await
        .unwrap();
        assert_eq!(claimed.claimed, vec![(s.id, r.tx_hash)]);
    }
    let claimed = f.reload(&s).await;
    assert_eq!(claimed.status, SessionStatus::Processing);
    assert_eq!(claimed.processing.unwrap().tx_hash, r.tx_hash);
    assert_eq!(f.cursor().await, None);

    f.handle(std::slice::from_ref(&r)).await;
    f.handle(std::slice::from_ref(&r)).await;
    let s = f.reload(&s).await;
    assert_eq!(
        (s.status, s.amount_received),
        (SessionStatus::Paid, amount("3"))
    );
    assert_eq!(f.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(
        f.count("SELECT count(*) FROM outbox_events WHERE event_type = 'session.processing'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_different_payments_racing_for_one_session_credit_it_once_100_times() {
    let f = Fixture::new().await;
    for round in 0..100u64 {
        let s = f.session(Asset::Native, "5", 1000 + round).await;
        let a = pay(
            2 * round + 1,
            1,
            muxed(1000 + round),
            Asset::Native,
            "5",
            Memo::None,
        );
        let b = pay(
            2 * round + 2,
            1,
            muxed(1000 + round),
            Asset::Native,
            "5",
            Memo::None,
        );
        let (m1, m2) = (f.matcher.clone(), f.matcher.clone());
        let account = f.account;
        let ta = tokio::spawn(async move { m1.handle(&account, &[Ok(a)], 1).await });
        let tb = tokio::spawn(async move { m2.handle(&account, &[Ok(b)], 1).await });
        ta.await.unwrap().unwrap();
        tb.await.unwrap().unwrap();

        let s = f.reload(&s).await;
        assert_eq!(
            (s.status, s.amount_received),
            (SessionStatus::Paid, amount("5")),
            "round {round}"
        );
        let credited = f
            .count(&format!(
                "SELECT count(*) FROM payments WHERE session_id = '{}'",
                s.id
            ))
            .await;
        let late = f
            .count(&format!("SELECT count(*) FROM unmatched_payments WHERE session_id = '{}' AND reason = 'already_paid'", s.id))
            .await;
        assert_eq!(
            (credited, late),
            (1, 1),
            "round {round}: exactly one credits, the other is recorded"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_transaction_delivered_twice_at_once_is_handled_gracefully() {
    let f = Fixture::new().await;
    for round in 0..20u64 {
        let s = f.session(Asset::Native, "5", 2000 + round).await;
        let r = pay(
            round + 1,
            1,
            muxed(2000 + round),
            Asset::Native,
            "5",
            Memo::None,
        );
        let (m1, m2, r1, r2) = (f.matcher.clone(), f.matcher.clone(), r.clone(), r);
        let account = f.account;
        let t1 = tokio::spawn(async move { m1.handle(&account, &[Ok(r1)], 1).await });
        let t2 = tokio::spawn(async move { m2.handle(&account, &[Ok(r2)], 1).await });
        t1.await.unwrap().unwrap();
        t2.await.unwrap().unwrap();
        let s = f.reload(&s).await;
        assert_eq!(
            (s.status, s.amount_received),
            (SessionStatus::Paid, amount("5"))
        );
        assert_eq!(
            f.count(&format!(
                "SELECT count(*) FROM payments WHERE session_id = '{}'",
                s.id
            ))
            .await,
            1
        );
    }
    assert_eq!(f.count("SELECT count(*) FROM unmatched_payments").await, 0);
}

#[tokio::test]
async fn a_credit_for_a_session_another_instance_is_settling_is_decided_at_once() {
    let f = Fixture::new().await;
    let s = f.session(Asset::Native, "5", 77).await;
    let first = pay(1, 1, muxed(77), Asset::Native, "5", Memo::None);
    let second = pay(2, 1, muxed(77), Asset::Native, "5", Memo::None);
    let intent = orbitpay_matcher::prepare::intent(&first, &f.account);
    let mut conn = f.db.conn().await;
    // Another instance claimed the session for the first transaction and has not settled yet.
    settlement::claim(
        &mut conn,
        &f.account,
        &[Item {
            record: &first,
            intent: &intent,
        }],
    )
    .await
    .unwrap();

    // The second payment does not wait: it pays the session and the cursor moves past it.
    f.handle(std::slice::from_ref(&second)).await;
    let paid = f.reload(&s).await;
    assert_eq!(
        (paid.status, paid.amount_received),
        (SessionStatus::Paid, amount("5"))
    );
    assert!(
        paid.processing.is_none(),
        "paid is terminal: the claim ends"
    );
    assert_eq!(f.cursor().await, Some(second.op_id));

    // The first instance's settle then finds the session paid: already paid, not credited.
    settlement::settle(
        &mut conn,
        &f.account,
        &[Item {
            record: &first,
            intent: &intent,
        }],
        Some(first.op_id),
    )
    .await
    .unwrap();
    assert_eq!(f.reload(&s).await.amount_received, amount("5"));
    assert_eq!(
        f.count("SELECT count(*) FROM unmatched_payments WHERE reason = 'already_paid'")
            .await,
        1
    );
    assert_eq!(f.count("SELECT count(*) FROM payments").await, 1);
}

#[tokio::test]
async fn a_batch_is_cut_where_a_second_transaction_pays_a_session_claimed_in_it() {
    let f = Fixture::new().await;
    let s = f.session(Asset::Native, "10", 3).await;
    let other = f.session(Asset::Native, "1", 4).await;
    f.handle(&[
        pay(1, 1, muxed(3), Asset::Native, "4", Memo::None),
        pay(2, 1, muxed(3), Asset::Native, "6", Memo::None),
        pay(3, 1, muxed(4), Asset::Native, "1", Memo::None),
    ])
    .await;
    let s = f.reload(&s).await;
    assert_eq!(
        (s.status, s.amount_received),
        (SessionStatus::Paid, amount("10"))
    );
    assert_eq!(f.reload(&other).await.status, SessionStatus::Paid);
    assert_eq!(f.count("SELECT count(*) FROM payments").await, 3);
}

fn unreadable(token: i64) -> orbitpay_horizon::FetchedRecord {
    let mut e =
        orbitpay_horizon::convert::record_from_json("{\"type\":\"payment\",garb", Some(token))
            .unwrap_err();
    e.reads = 5;
    Err(e)
}

#[tokio::test]
async fn an_unreadable_record_is_stored_where_the_cursor_passes_it_and_the_batch_goes_on() {
    let f = Fixture::new().await;
    let s = f.session(Asset::Native, "2", 6).await;
    let first = pay(1, 1, muxed(6), Asset::Native, "1", Memo::None);
    let second = pay(3, 1, muxed(6), Asset::Native, "1", Memo::None);
    let broken = pay(2, 1, muxed(6), Asset::Native, "1", Memo::None).op_id;
    let records = vec![Ok(first.clone()), unreadable(broken), Ok(second.clone())];
    f.matcher
        .handle(&f.account, &records, second.op_id)
        .await
        .unwrap();
    assert_eq!(f.reload(&s).await.status, SessionStatus::Paid);
    assert_eq!(f.cursor().await, Some(second.op_id));
    let mut conn = f.db.conn().await;
    let listed = orbitpay_store::unreadable::list_unresolved(&mut conn, Some(&f.account), 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let row = &listed[0];
    assert_eq!((row.paging_token, row.attempts), (broken, 5));
    assert_eq!(row.raw, b"{\"type\":\"payment\",garb".to_vec());
    assert!(row.parse_error.contains("not JSON"), "{}", row.parse_error);

    // A batch that ends with the unreadable record moves the cursor exactly to it.
    let later = pay(4, 1, muxed(6), Asset::Native, "1", Memo::None).op_id;
    f.matcher
        .handle(&f.account, &[unreadable(later)], later)
        .await
        .unwrap();
    assert_eq!(f.cursor().await, Some(later));
    assert_eq!(
        f.count("SELECT count(*) FROM unreadable_records WHERE resolved_at IS NULL")
            .await,
        2
    );
}

#[tokio::test]
async fn an_unreadable_record_without_a_token_is_refused_and_the_cursor_stays() {
    let f = Fixture::new().await;
    let mut e = orbitpay_horizon::convert::record_from_json("[]", None).unwrap_err();
    e.paging_token = None;
    let err = f
        .matcher
        .handle(&f.account, &[Err(e)], 99)
        .await
        .unwrap_err();
    assert!(
        matches!(err, orbitpay_matcher::MatchError::Fatal(_)),
        "{err}"
    );
    assert_eq!(f.cursor().await, None);
}

#[tokio::test]
async fn intents_are_prepared_from_core_rules() {
    let f = Fixture::new().await;
    let r = pay(1, 1, muxed(5), Asset::Native, "1", Memo::Id(6));
    assert!(matches!(
        orbitpay_matcher::prepare::intent(&r, &f.account),
        Intent::Unmatched {
            reason: UnmatchedReason::AmbiguousReference,
            ..
        }
    ));
}

/// The claim and settle statements are constant text that diesel keeps prepared on the
/// connection: a statement prepared again each batch is a round trip and a parse per payment.
#[tokio::test]
async fn a_claim_and_settle_leave_their_statements_prepared_on_the_connection() {
    use diesel_async::RunQueryDsl as _;
    #[derive(diesel::QueryableByName)]
    struct Prepared {
        #[diesel(sql_type = diesel::sql_types::Text)]
        statement: String,
    }
    let f = Fixture::new().await;
    f.session(Asset::Native, "1", 9).await;
    let r = pay(1, 1, muxed(9), Asset::Native, "1", Memo::None);
    let intent = orbitpay_matcher::prepare::intent(&r, &f.account);
    let items = [Item {
        record: &r,
        intent: &intent,
    }];
    let mut conn = f.db.conn().await;
    let claimed = settlement::claim(&mut conn, &f.account, &items)
        .await
        .unwrap();
    assert_eq!(claimed.claimed.len(), 1);
    settlement::settle(&mut conn, &f.account, &items, Some(r.op_id))
        .await
        .unwrap();

    let kept: Vec<String> = diesel::sql_query("SELECT statement FROM pg_prepared_statements")
        .load::<Prepared>(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.statement)
        .collect();
    for needle in [
        "FOR NO KEY UPDATE",
        "UPDATE sessions AS s",
        "INSERT INTO payments",
        "INSERT INTO payment_operations",
        "INSERT INTO outbox_events",
        "INSERT INTO stream_cursors",
    ] {
        assert!(
            kept.iter().any(|s| s.contains(needle)),
            "no prepared statement holds {needle:?}; kept: {kept:#?}"
        );
    }
}
