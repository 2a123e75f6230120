//! A payer's bytes never halt the account: memos with NULs and invalid UTF-8 are stored
//! losslessly (bytes in `bytea`, an escaped rendering in text), and a batch that cannot be
//! settled leaves no session claimed behind it.

mod common;

use common::*;
use orbitpay_core::{Asset, Memo, SessionStatus};

fn nul_memo() -> Memo {
    // Horizon's `memo` would read "42" here; only `memo_bytes` carries the NUL.
    Memo::text(b"42\0".to_vec()).unwrap()
}

#[tokio::test]
async fn a_text_memo_with_a_nul_is_recorded_as_unmatched_and_the_account_goes_on() {
    let f = Fixture::new().await;
    let s = f.session(Asset::Native, "1", 42).await;
    let hostile = pay(1, 1, merchant(), Asset::Native, "1", nul_memo());
    let good = pay(2, 1, muxed(42), Asset::Native, "1", Memo::None);
    let fetched = vec![Ok(hostile.clone())];
    f.matcher
        .handle(&f.account, &fetched, hostile.op_id)
        .await
        .expect("a payer's memo must not halt the account");
    f.handle(std::slice::from_ref(&good)).await;

    assert_eq!(f.reload(&s).await.status, SessionStatus::Paid);
    let exact = f
        .count(&format!(
            "SELECT count(*) FROM unmatched_payments WHERE op_id = {} AND reason = 'no_reference'
             AND memo_bytes = '\\x343200'::bytea AND memo_value = '42\\x00'",
            hostile.op_id
        ))
        .await;
    assert_eq!(exact, 1, "exact bytes in bytea, escaped text rendering");
    assert_eq!(f.cursor().await, Some(good.op_id));
}

#[tokio::test]
async fn a_catch_up_page_with_a_nul_memo_settles_every_session_it_claimed() {
    let f = Fixture::new().await;
    let before = f.session(Asset::Native, "1", 1).await;
    let after = f.session(Asset::Native, "1", 2).await;
    let records = [
        pay(1, 1, muxed(1), Asset::Native, "1", Memo::None),
        pay(2, 1, merchant(), Asset::Native, "1", nul_memo()),
        pay(3, 1, muxed(2), Asset::Native, "1", Memo::None),
    ];
    let fetched: Vec<_> = records.iter().cloned().map(Ok).collect();
    let up_to = records[2].op_id;
    f.matcher
        .handle(&f.account, &fetched, up_to)
        .await
        .expect("a payer's memo must not halt the account");

    assert_eq!(f.reload(&before).await.status, SessionStatus::Paid);
    assert_eq!(f.reload(&after).await.status, SessionStatus::Paid);
    assert_eq!(
        f.count("SELECT count(*) FROM sessions WHERE status = 'processing'")
            .await,
        0
    );
    assert_eq!(f.cursor().await, Some(up_to));
}

#[tokio::test]
async fn a_batch_whose_settlement_fails_for_good_leaves_no_session_processing() {
    let f = Fixture::new().await;
    let first = f.session(Asset::Native, "1", 1).await;
    let second = f.session(Asset::Native, "1", 2).await;
    let records = [
        pay(1, 1, muxed(1), Asset::Native, "1", Memo::None),
        pay(2, 1, merchant(), Asset::Native, "1", Memo::None),
        pay(3, 1, muxed(2), Asset::Native, "1", Memo::None),
    ];
    f.handle_up_to(&[], 5).await;
    // A settlement that can never commit (a constraint the unmatched row violates): the
    // account halts, but the claims it took in the first transaction must not outlive it.
    f.exec(&format!(
        "ALTER TABLE unmatched_payments ADD CONSTRAINT poison CHECK (op_id <> {})",
        records[1].op_id
    ))
    .await;
    let fetched: Vec<_> = records.iter().cloned().map(Ok).collect();
    let err = f
        .matcher
        .handle(&f.account, &fetched, records[2].op_id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, orbitpay_matcher::MatchError::Fatal(_)),
        "{err}"
    );
    for s in [&first, &second] {
        let s = f.reload(s).await;
        assert_eq!(
            (s.status, s.processing),
            (SessionStatus::Pending, None),
            "released"
        );
    }
    assert_eq!(f.cursor().await, Some(5), "the cursor stays put");

    // Once the cause is gone, the same page settles normally.
    f.exec("ALTER TABLE unmatched_payments DROP CONSTRAINT poison")
        .await;
    f.handle(&records).await;
    assert_eq!(f.reload(&first).await.status, SessionStatus::Paid);
    assert_eq!(f.reload(&second).await.status, SessionStatus::Paid);
    assert_eq!(f.count("SELECT count(*) FROM payments").await, 2);
}
