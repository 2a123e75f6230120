//! The daemon's webhook dispatcher: registers the configured default endpoint (awaited by
//! `serve` first), and delivers the outbox until shutdown. Every instance runs one; leases keep
//! them off each other's work.

use std::time::Duration;

use orbitpay_core::{Backoff, Jitter};
use orbitpay_store::DbPool;
use orbitpay_webhooks::Dispatcher;
use tokio_util::sync::CancellationToken;

use crate::config::{Secret, WebhooksConfig};

/// Delivers until `stop`. Without a signing secret nothing is sent: deliveries (to a session's
/// own `webhook_url`) wait, counted in the outbox depth, for a restart with a secret.
pub async fn run(
    config: WebhooksConfig,
    pool: DbPool,
    database_url: Secret,
    stop: CancellationToken,
) {
    let Some(signer) = config.signer() else {
        tracing::warn!(
            "webhooks: no signing secret (webhooks.secret_file or credential webhook-secret); \
             events are kept in the outbox and not delivered"
        );
        stop.cancelled().await;
        return;
    };
    let rotating = signer.previous.is_some();
    let dispatcher = Dispatcher::new(pool, signer, config.dispatcher_config())
        .listen(database_url.expose().to_owned());
    tracing::info!(
        url = config.url.as_deref().unwrap_or(""),
        owner = dispatcher.owner(),
        rotating,
        "webhook dispatcher started"
    );
    dispatcher.run(stop).await;
}

/// The configuration is the source of truth for the default endpoint: set it (or clear it),
/// waiting out a database outage (or until `stop`). `serve` awaits it before the admin socket
/// and the followers start, since an event fans out to the endpoints of its commit.
pub(crate) async fn register_default(
    config: &WebhooksConfig,
    pool: &DbPool,
    stop: &CancellationToken,
) {
    let backoff = Backoff::new(
        Duration::from_millis(250),
        Duration::from_secs(5),
        Jitter::None,
    );
    let mut failures = 0;
    loop {
        let attempt = async {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            orbitpay_store::deliveries::set_default_endpoint(&mut conn, config.url.as_deref())
                .await
                .map_err(|e| e.to_string())
        };
        match attempt.await {
            Ok(()) => return,
            Err(e) => {
                let delay = backoff.delay(failures);
                failures += 1;
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "webhooks: cannot register the default endpoint yet");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}
