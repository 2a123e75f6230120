//! Expiry by ledger time: a payment whose ledger closed by the session's `expires_at` pays it,
//! however late orbitpay sees it; one whose ledger closed after it is late, recorded as
//! unmatched `session_expired` with a `session.late_payment` event, and never credited. The
//! matcher applies the rule at once, without waiting for the expiry sweep.

mod common;

use common::*;
use orbitpay_core::{LedgerRecord, Memo, SessionStatus};

/// The session expires at the database's `now() - 1 hour`: the daemon was down across it, and
/// the sweep has not run.
async fn expired_an_hour_ago(f: &Fixture, reference: u64) -> (orbitpay_store::Session, i64) {
    let s = f
        .session(orbitpay_core::Asset::Native, "10", reference)
        .await;
    f.exec(&format!(
        "UPDATE sessions SET expires_at = date_trunc('second', now()) - interval '1 hour' WHERE id = '{}'",
        s.id
    ))
    .await;
    let s = f.reload(&s).await;
    (s.clone(), s.expires_at.timestamp())
}

fn paying(tx: u64, reference: u64, closed_at: i64) -> LedgerRecord {
    let mut r = pay(
        tx,
        1,
        muxed(reference),
        orbitpay_core::Asset::Native,
        "10",
        Memo::None,
    );
    r.closed_at = Some(closed_at);
    r
}

#[tokio::test]
async fn a_payment_closed_by_the_expiry_but_seen_after_it_is_credited() {
    let f = Fixture::new().await;
    let (s, expires) = expired_an_hour_ago(&f, 5).await;
    // Closed exactly at the expiry: on time.
    f.handle(&[paying(1, 5, expires)]).await;
    let s = f.reload(&s).await;
    assert_eq!(s.status, SessionStatus::Paid);
    assert_eq!(f.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(f.count("SELECT count(*) FROM unmatched_payments").await, 0);
}

#[tokio::test]
async fn a_payment_closed_after_the_expiry_is_late_even_before_the_sweep() {
    let f = Fixture::new().await;
    let (s, expires) = expired_an_hour_ago(&f, 6).await;
    f.handle(&[paying(1, 6, expires + 1)]).await;
    let s = f.reload(&s).await;
    assert_eq!(s.status, SessionStatus::Pending, "the sweep expires it");
    assert_eq!(s.amount_received.stroops(), 0);
    assert_eq!(f.count("SELECT count(*) FROM payments").await, 0);
    assert_eq!(
        f.count(&format!(
            "SELECT count(*) FROM unmatched_payments WHERE reason = 'session_expired' AND session_id = '{}'",
            s.id
        ))
        .await,
        1
    );
    assert_eq!(
        f.count(&format!(
            "SELECT count(*) FROM outbox_events WHERE event_type = 'session.late_payment' AND session_id = '{}'",
            s.id
        ))
        .await,
        1
    );
    // No claim was taken for it either.
    assert_eq!(
        f.count("SELECT count(*) FROM outbox_events WHERE event_type = 'session.processing'")
            .await,
        0
    );
    // A redelivery is a no-op.
    f.handle(&[paying(1, 6, expires + 1)]).await;
    assert_eq!(f.count("SELECT count(*) FROM unmatched_payments").await, 1);
}
