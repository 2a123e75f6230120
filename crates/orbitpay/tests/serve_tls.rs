//! `orbitpay serve` with `sslmode=verify-full` against a private cluster with TLS: every
//! connection the daemon opens (migrations, the pool, each account's leadership connection, the
//! webhook dispatcher's LISTEN) is encrypted.

mod serve_support;

use std::time::Duration;

use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl as _;
use orbitpay_horizon_sim::{HorizonSim, derive_account};
use orbitpay_testkit::TlsServer;
use serve_support::*;

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Backends {
    #[diesel(sql_type = BigInt)]
    tcp: i64,
    #[diesel(sql_type = BigInt)]
    plain: i64,
    #[diesel(sql_type = BigInt)]
    listening: i64,
    /// Holding an account's advisory lock: the leadership connection.
    #[diesel(sql_type = BigInt)]
    leading: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connection_of_the_daemon_is_encrypted_with_verify_full() {
    let pg = TlsServer::start().await;
    let sim = HorizonSim::with_seed(23);
    let shop = derive_account(23, 0);
    sim.register_account(shop);
    let horizon = sim.serve("127.0.0.1:0").await.unwrap();
    let files = DaemonFiles::new();
    let secret = files.path("webhook-secret");
    std::fs::write(&secret, orbitpay_webhooks::Secret::generate()).unwrap();
    let config = files.write_config(
        &pg.verify_full_url(),
        "unused",
        horizon.base_url(),
        &[shop.to_string()],
        &format!(
            "[webhooks]\nsecret_file = \"{}\"\nallow_private = true\n",
            secret.display()
        ),
    );
    let mut notify = NotifySocket::bind(files.path("notify.sock"));
    let mut child = orbitpay_command(&["serve", "--config", config.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &notify.path)
        .spawn()
        .unwrap();
    let ready = notify.wait_for(Duration::from_secs(60), |l| l == "READY=1");
    assert!(ready.is_some(), "no READY=1: {:?}", notify.received);

    // The test's own connection comes over the Unix socket: only the daemon's are TCP.
    let mut admin = orbitpay_store::establish(
        &pg.cluster.url(),
        &orbitpay_store::SessionSettings::default(),
    )
    .await
    .unwrap();
    let mut seen = None;
    for _ in 0..100 {
        let now = diesel::sql_query(
            "SELECT count(*) AS tcp, count(*) FILTER (WHERE NOT s.ssl) AS plain, \
             count(*) FILTER (WHERE a.query LIKE 'LISTEN%' AND s.ssl) AS listening, \
             count(*) FILTER (WHERE s.ssl AND a.pid IN \
                 (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)) AS leading \
             FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.backend_type = 'client backend' AND a.client_addr IS NOT NULL",
        )
        .get_result::<Backends>(&mut admin)
        .await
        .unwrap();
        // The pool, the leadership connection and the LISTEN at least.
        let done = now.tcp >= 3 && now.listening == 1 && now.leading >= 1;
        seen = Some(now);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = seen.unwrap();
    signal(&child, "TERM");
    let _ = wait_exit(&mut child, Duration::from_secs(10));
    assert!(
        seen.tcp >= 3 && seen.listening == 1 && seen.leading >= 1,
        "{seen:?}"
    );
    assert_eq!(seen.plain, 0, "{seen:?}");
}
