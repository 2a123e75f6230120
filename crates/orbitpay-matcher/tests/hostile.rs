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
