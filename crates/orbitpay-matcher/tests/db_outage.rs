//! A database that cannot take writes for a while (a failover's read-only phase) stalls the
//! matcher, never halts it: it retries until the database is back, or until it is stopped.

mod common;

use std::time::Duration;

use common::*;
use orbitpay_core::{Asset, Memo, SessionStatus};
use orbitpay_horizon::FetchedRecord;
use orbitpay_matcher::{MatchError, MatcherConfig};
use tokio_util::sync::CancellationToken;

fn quick() -> MatcherConfig {
    MatcherConfig {
        retry_base: Duration::from_millis(20),
        retry_cap: Duration::from_millis(200),
        ..MatcherConfig::default()
    }
}

/// New sessions on the test database start read-only (what a demoted primary answers).
async fn read_only(f: &Fixture, on: bool) {
    use diesel_async::SimpleAsyncConnection;
    let name = f.db.name();
    let mut conn = f.db.conn().await;
    // Each a transaction of its own, the first one started writable.
    conn.batch_execute("SET default_transaction_read_only = off")
        .await
        .unwrap();
    let sql = if on {
        format!("ALTER DATABASE {name} SET default_transaction_read_only = on")
    } else {
        format!("ALTER DATABASE {name} RESET default_transaction_read_only")
    };
    conn.batch_execute(&sql).await.unwrap();
}

#[tokio::test]
async fn a_read_only_database_is_retried_until_writes_pass_again() {
    let f = Fixture::with_config(quick()).await;
    let s = f.session(Asset::Native, "5", 3).await;
    read_only(&f, true).await;
    let record: FetchedRecord = Ok(pay(1, 1, muxed(3), Asset::Native, "5", Memo::None));
    let matcher = f.matcher.clone();
    let account = f.account;
    let handle = tokio::spawn(async move { matcher.handle(&account, &[record], 1).await });

    // Well past the five attempts the matcher used to give up after.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !handle.is_finished(),
        "the matcher gave up: {:?}",
        handle.await
    );
    assert_eq!(f.cursor().await, None);

    // Pooled connections opened meanwhile are still read-only: only a fresh one can write.
    read_only(&f, false).await;
    tokio::time::timeout(Duration::from_secs(20), handle)
        .await
        .expect("the matcher recovers once the database takes writes")
        .unwrap()
        .unwrap();
    assert_eq!(f.reload(&s).await.status, SessionStatus::Paid);
    assert_eq!(f.cursor().await, Some(1));
}

#[tokio::test]
async fn a_stop_ends_the_retries_with_the_cursor_kept() {
    let f = Fixture::with_config(quick()).await;
    let s = f.session(Asset::Native, "5", 3).await;
    read_only(&f, true).await;
    let record: FetchedRecord = Ok(pay(1, 1, muxed(3), Asset::Native, "5", Memo::None));
    let stop = CancellationToken::new();
    let matcher = f.matcher.clone();
    let account = f.account;
    let token = stop.clone();
    let handle =
        tokio::spawn(async move { matcher.handle_until(&account, &[record], 1, &token).await });

    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    let result = tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("a stop ends the retrying promptly")
        .unwrap();

    assert!(
        matches!(result, Err(MatchError::Transient(_))),
        "{result:?}"
    );
    assert_eq!(f.cursor().await, None);
    read_only(&f, false).await;
    assert_eq!(f.reload(&s).await.status, SessionStatus::Pending);
}
