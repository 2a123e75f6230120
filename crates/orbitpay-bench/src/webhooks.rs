//! SEAM: webhook delivery (events per second to a local receiver, and the paid-to-webhook
//! latency). The daemon now runs the dispatcher (`[webhooks]`); not measured yet. This is where
//! the bench starts a loopback receiver (`orbitpay_testkit::receiver`), sets it as
//! `webhooks.url`, and times `session.paid` commits (the `bench_paid` NOTIFY) against the
//! receiver's arrivals.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct WebhookReport {
    pub measured: bool,
    pub note: &'static str,
}

/// Not measured yet: the phase is still to be written.
pub fn measure() -> WebhookReport {
    WebhookReport {
        measured: false,
        note: "not measured yet (seam: orbitpay-bench/src/webhooks.rs)",
    }
}
