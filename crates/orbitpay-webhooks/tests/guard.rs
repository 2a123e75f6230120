//! The SSRF guard against resolvers that misbehave: a slow one must not outlast the attempt,
//! and one that changes its answer (DNS rebinding) must not move a checked attempt elsewhere.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::dns::{Rebinding, Slow};
use common::*;
use orbitpay_store::deliveries;
use orbitpay_store::models::DeliveryState;
use orbitpay_webhooks::guard::{Guard, GuardError};
use tokio::time::Instant;
use url::Url;

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_slow_resolver_is_cut_off_at_the_attempt_deadline() {
    let slow = Slow {
        delay: Duration::from_secs(600),
        answer: "93.184.215.14".parse().unwrap(),
    };
    let guard = Guard::with_resolver(false, Arc::new(slow));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(15);

    let err = guard
        .check(&url("https://hooks.example.com/in"), deadline)
        .await
        .unwrap_err();

    assert!(matches!(err, GuardError::ResolveTimeout { .. }), "{err}");
    assert!(err.is_transient(), "a slow resolver is retried later");
    assert_eq!(Instant::now() - started, Duration::from_secs(15));
}

#[tokio::test(start_paused = true)]
async fn a_resolver_answering_in_time_is_used() {
    let slow = Slow {
        delay: Duration::from_secs(2),
        answer: "93.184.215.14".parse().unwrap(),
    };
    let guard = Guard::with_resolver(false, Arc::new(slow));
    let deadline = Instant::now() + Duration::from_secs(15);
    let addr = guard
        .check(&url("https://hooks.example.com/in"), deadline)
        .await
        .unwrap();
    assert_eq!(addr.to_string(), "93.184.215.14:443");
}

#[tokio::test]
async fn each_attempt_checks_a_fresh_answer_so_a_rebound_name_is_refused() {
    let dns = Arc::new(Rebinding::new(&["93.184.215.14", "169.254.169.254"]));
    let guard = Guard::with_resolver(false, dns.clone());
    let hook = url("https://rebind.example.com/in");
    let deadline = Instant::now() + Duration::from_secs(5);

    let first = guard.check(&hook, deadline).await.unwrap();
    assert_eq!(first.to_string(), "93.184.215.14:443");
    let second = guard.check(&hook, deadline).await.unwrap_err();
    assert!(matches!(second, GuardError::Refused { .. }), "{second}");
    assert!(
        second.to_string().contains("169.254.0.0/16 Link Local"),
        "{second}"
    );
    assert_eq!(dns.lookups(), 2);
}

fn port_of(rx: &Receiver) -> u16 {
    url(&rx.url).port().unwrap()
}

#[tokio::test]
async fn a_slow_resolver_ends_the_attempt_at_its_timeout_well_inside_the_lease() {
    let rx = Receiver::start(ok).await;
    let s = Setup::new(&format!("http://slow-dns.test:{}/hook", port_of(&rx))).await;
    let mut conn = s.conn().await;
    let id = event(&mut conn, None).await;
    let cfg = config();
    let timeout = cfg.timeout;
    let slow = Slow {
        delay: Duration::from_secs(120),
        answer: "127.0.0.1".parse().unwrap(),
    };
    let d = s.dispatcher(cfg).resolver(Arc::new(slow));

    let started = Instant::now();
    let attempted = tokio::time::timeout(Duration::from_secs(10), d.run_once())
        .await
        .expect("the attempt waited on DNS past its timeout (the lease would lapse)")
        .unwrap();
    assert_eq!(attempted, 1);
    assert!(started.elapsed() < timeout + Duration::from_secs(2));

    assert!(rx.received().is_empty());
    let row = &deliveries::for_event(&mut conn, id).await.unwrap()[0];
    assert_eq!(row.state, DeliveryState::Pending, "retried later");
    assert!(
        row.last_error
            .as_deref()
            .unwrap()
            .contains("request timeout"),
        "{row:?}"
    );
    // Recorded by its own lease holder: the lease had not lapsed.
    assert_eq!(
        deliveries::attempts(&mut conn, row.id).await.unwrap().len(),
        1
    );
    assert!(row.lease_owner.is_none(), "{row:?}");
}

#[tokio::test]
async fn the_post_goes_to_the_checked_address_when_the_name_rebinds() {
    let checked = Receiver::start(ok).await;
    let port = port_of(&checked);
    // The address the name moves to after the check: another listener, same port.
    let rebound = Receiver::start_on(&format!("127.0.0.2:{port}"), ok).await;
    let dns = Arc::new(Rebinding::new(&["127.0.0.1", "127.0.0.2"]));
    let s = Setup::new(&format!("http://rebind.test:{port}/hook")).await;
    let mut conn = s.conn().await;
    let id = event(&mut conn, None).await;
    let d = s.dispatcher(config()).resolver(dns.clone());

    assert_eq!(d.run_once().await.unwrap(), 1);

    assert_eq!(checked.received().len(), 1);
    assert!(rebound.received().is_empty());
    assert_eq!(
        *dns.asked.lock().unwrap(),
        ["rebind.test"],
        "one lookup, the checked one"
    );
    assert_eq!(state(&mut conn, id).await, DeliveryState::Delivered);
}
