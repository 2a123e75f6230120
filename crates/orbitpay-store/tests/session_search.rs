//! The operator page's search: a keyset walk newest first meets every session once, ties on
//! `created_at` included; a transaction hash finds the sessions it paid and the one it claims.

mod common;

use common::{account, new_session, tx_hash};
use orbitpay_store::session_search::{self, After, Term};
use orbitpay_testkit::TestDb;
use uuid::Uuid;

#[tokio::test]
async fn a_keyset_walk_meets_every_session_once_newest_first_ties_included() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let mut made = Vec::new();
    for _ in 0..7 {
        let s = orbitpay_store::sessions::insert(&mut conn, &new_session(account(1)))
            .await
            .unwrap();
        made.push(s.id);
    }
    // Three share one instant, so the id decides among them.
    db.exec(&format!(
        "UPDATE sessions SET created_at = '2026-12-01T10:00:00Z' WHERE id IN ('{}', '{}', '{}')",
        made[1], made[2], made[3]
    ))
    .await;
    let mut seen: Vec<Uuid> = Vec::new();
    let mut after = None;
    loop {
        let page = session_search::search(&mut conn, &Term::All, after, 2)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(After {
            created_at: last.created_at,
            id: last.id,
        });
        seen.extend(page.iter().map(|s| s.id));
    }
    let mut expected = session_search::search(&mut conn, &Term::All, None, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect::<Vec<_>>();
    assert_eq!(seen, expected, "pages of 2 read as one page of all");
    expected.sort();
    let mut all = made.clone();
    all.sort();
    assert_eq!(expected, all);
}

#[tokio::test]
async fn a_tx_hash_finds_the_sessions_it_paid_and_the_one_it_claims() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            orbitpay_store::sessions::insert(&mut conn, &new_session(account(1)))
                .await
                .unwrap()
                .id,
        );
    }
    let h = tx_hash(7);
    db.exec(&format!(
        "INSERT INTO payments (session_id, tx_hash, amount, asset, ledger)
         VALUES ('{}', '{h}', 1, 'native', 5)",
        ids[0]
    ))
    .await;
    db.exec(&format!(
        "UPDATE sessions SET status = 'processing', processing_tx_hash = '{h}',
             processing_started_at = now(), claim_source = 'stream' WHERE id = '{}'",
        ids[2]
    ))
    .await;
    let mut found: Vec<Uuid> = session_search::search(&mut conn, &Term::TxHash(h), None, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    found.sort();
    let mut expected = vec![ids[0], ids[2]];
    expected.sort();
    assert_eq!(found, expected);
    assert!(
        session_search::search(&mut conn, &Term::TxHash(tx_hash(8)), None, 50)
            .await
            .unwrap()
            .is_empty()
    );
}
