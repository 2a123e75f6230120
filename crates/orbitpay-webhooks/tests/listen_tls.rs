//! The dispatcher's LISTEN connection is opened by the store, so it has what every other
//! connection has: here, `sslmode=verify-full` against a private cluster with TLS (the
//! dispatcher's own connect had no TLS, and refused the URL: it only polled).

mod common;

use std::time::Duration;

use common::*;
use orbitpay_store::{PoolConfig, deliveries};
use orbitpay_testkit::TlsServer;
use orbitpay_webhooks::{Dispatcher, Secret, Signer};

#[tokio::test]
async fn notify_wakes_the_dispatcher_over_a_verify_full_connection() {
    let rx = Receiver::start(ok).await;
    let pg = TlsServer::start().await;
    let url = pg.verify_full_url();
    orbitpay_store::run_migrations(&url).await.unwrap();
    let pool = orbitpay_store::build_pool(&url, &PoolConfig::default()).unwrap();
    deliveries::set_default_endpoint(&mut pool.get().await.unwrap(), Some(&rx.url))
        .await
        .unwrap();
    let signer = Signer {
        current: Secret::parse(&Secret::generate()).unwrap(),
        previous: None,
    };
    let mut cfg = config();
    cfg.poll_interval = Duration::from_secs(60);
    let dispatcher = Dispatcher::new(pool.clone(), signer, cfg).listen(url);
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { dispatcher.run(stop).await }
    });
    // Let the loop run its first (empty) round and LISTEN.
    tokio::time::sleep(Duration::from_millis(500)).await;
    event(&mut pool.get().await.unwrap(), None).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while rx.received().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not woken by NOTIFY"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    task.await.unwrap();
}
