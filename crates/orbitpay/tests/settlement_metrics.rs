//! Every path that credits money is counted once: a credit from the stream, from a client
//! report, from the recovery job and from reconciliation each moves
//! `orbitpay_credited_stroops_total` by its amount and `orbitpay_records_total` by one, and the
//! stream finding those operations again later counts them as already handled, not again.
//!
//! The metrics go to a recorder of this test's own (thread-local), so the test runs on a
//! current-thread runtime: every task it starts polls on this thread.

mod jobs_support;

use std::time::Duration;

use jobs_support::{Env, counter};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use orbitpay::jobs::reconcile::reconcile;
use orbitpay::jobs::recovery::{RecoverySettings, recover_stuck_sessions};
use orbitpay_core::SessionStatus;
use orbitpay_horizon::FetchedRecord;
use orbitpay_matcher::ReportOutcome;
use tokio_util::sync::CancellationToken;

/// What one credit moved: stroops credited, and records counted as credited.
#[derive(Debug, PartialEq, Eq)]
struct Moved {
    path: &'static str,
    stroops: u64,
    credited_records: u64,
}

struct Meter {
    handle: PrometheusHandle,
    stroops: u64,
    records: u64,
}

impl Meter {
    fn read(&self) -> (u64, u64) {
        let stroops = counter(
            &self.handle,
            "orbitpay_credited_stroops_total",
            "asset=\"native\"",
        );
        let records = counter(
            &self.handle,
            "orbitpay_records_total",
            "decision=\"credited_",
        );
        (stroops, records)
    }

    fn since_last(&mut self, path: &'static str) -> Moved {
        let (stroops, records) = self.read();
        let moved = Moved {
            path,
            stroops: stroops - self.stroops,
            credited_records: records - self.records,
        };
        (self.stroops, self.records) = (stroops, records);
        moved
    }
}

async fn stream(env: &Env, fetched: &[FetchedRecord]) {
    let up_to = fetched.last().unwrap().as_ref().unwrap().op_id;
    env.matcher.handle(&env.shop, fetched, up_to).await.unwrap();
}

#[tokio::test]
async fn each_path_that_credits_moves_the_credit_metrics_by_its_amount_once() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let mut meter = Meter {
        handle: recorder.handle(),
        stroops: 0,
        records: 0,
    };
    let _local = metrics::set_default_local_recorder(&recorder);
    let env = Env::new().await;
    let mut moved = Vec::new();
    let mut paid = Vec::new();

    // The stream.
    let s = env.session(1, 100).await;
    let hash = env.pay(1, 100);
    let fetched = env.records_of(hash).await;
    stream(&env, &fetched).await;
    assert_eq!(env.reload(&s).await.status, SessionStatus::Paid);
    moved.push(meter.since_last("stream"));
    paid.push(fetched);

    // A client report, confirmed at once.
    let s = env.session(2, 100).await;
    let hash = env.pay(2, 30);
    let outcome = env
        .matcher
        .report_tx(s.id, hash, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(matches!(outcome, ReportOutcome::Settled(_)), "{outcome:?}");
    moved.push(meter.since_last("client report"));
    paid.push(env.records_of(hash).await);

    // The recovery job, finishing a claim left open.
    let s = env.session(3, 100).await;
    let hash = env.pay(3, 70);
    env.claim(&s, hash, "6 minutes").await;
    let settings = RecoverySettings {
        after: Duration::from_secs(300),
        batch: 10,
    };
    let report = recover_stuck_sessions(&env.matcher, &settings, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(report.count("settled"), 1, "{report:?}");
    moved.push(meter.since_last("recovery"));
    paid.push(env.records_of(hash).await);

    // Reconciliation, finding a payment the stream never delivered (the cursor is past it).
    let s = env.session(4, 100).await;
    let hash = env.pay(4, 40);
    let fetched = env.records_of(hash).await;
    let up_to = fetched.last().unwrap().as_ref().unwrap().op_id;
    orbitpay_store::cursors::set(&env.db.conn().await, &env.shop, up_to)
        .await
        .unwrap();
    let report = reconcile(
        &env.db.pool(),
        &*env.source,
        &env.matcher,
        &[env.shop],
        Duration::from_secs(24 * 3600),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.count("newly_handled"), 1, "{report:?}");
    assert_eq!(env.reload(&s).await.amount_received.stroops(), 40);
    moved.push(meter.since_last("reconciliation"));
    paid.push(fetched);

    // The stream delivers all four again: already handled, nothing counted twice.
    let handled = |m: &Meter| {
        counter(
            &m.handle,
            "orbitpay_records_total",
            "decision=\"already_handled\"",
        )
    };
    let handled_before = handled(&meter);
    for fetched in &paid {
        stream(&env, fetched).await;
    }
    moved.push(meter.since_last("the stream again"));

    let expected = [
        ("stream", 100, 1),
        ("client report", 30, 1),
        ("recovery", 70, 1),
        ("reconciliation", 40, 1),
        ("the stream again", 0, 0),
    ]
    .map(|(path, stroops, credited_records)| Moved {
        path,
        stroops,
        credited_records,
    });
    assert_eq!(moved, expected);
    assert_eq!(
        handled(&meter) - handled_before,
        4,
        "the stream's second delivery is counted as already handled"
    );
}
