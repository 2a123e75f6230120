//! SEAM: webhook delivery (events per second to a local receiver, and the paid-to-webhook
//! latency). The dispatcher (`orbitpay-webhooks`) is not started by the daemon yet; it is
//! being wired in separately. Once `serve` runs it, this is where the bench starts a loopback
//! receiver, registers it as the sessions' `webhook_url`, and times `session.paid` commits
//! (the `bench_paid` NOTIFY) against the receiver's arrivals.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct WebhookReport {
    pub measured: bool,
    pub note: &'static str,
}

/// Not measured until the daemon delivers webhooks.
pub fn measure() -> WebhookReport {
    WebhookReport {
        measured: false,
        note: "not measured: the daemon does not run the webhook dispatcher yet (seam: orbitpay-bench/src/webhooks.rs)",
    }
}
