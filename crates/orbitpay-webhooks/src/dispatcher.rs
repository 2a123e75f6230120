//! The delivery loop: claim due deliveries (leased, committed), POST each outside any
//! transaction, record the attempt and what it decided.
//!
//! Several dispatchers may share a database (one per daemon instance): the lease makes each
//! delivery theirs alone while in flight, and the claim's ordering rule keeps one session's
//! events to one endpoint in order. Delivery is at least once: a dispatcher that dies after the
//! receiver answered but before recording repeats the POST, with the same `webhook-id`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use futures::StreamExt as _;
use orbitpay_core::{Backoff, Jitter};
use orbitpay_store::deliveries::{self, Attempt, Claimed, Outcome};
use orbitpay_store::retry::Retry;
use orbitpay_store::{DbPool, with_retry};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::guard::{self, Guard, Resolve};
use crate::policy::{Response, RetryPolicy, parse_retry_after};
use crate::signing::Signer;

/// The dispatcher's database calls: the store's one retry, a few attempts (full jitter from
/// 50 ms), so a connection ended or a deadlock neither loses an attempt's record (its lease
/// would expire and the POST be sent again) nor fails a round.
fn db_retry() -> Retry<'static> {
    Retry::attempts(
        5,
        Backoff::new(
            Duration::from_millis(50),
            Duration::from_secs(5),
            Jitter::Full,
        ),
    )
}

/// Bytes of the response body kept with the attempt, for an admin to read.
const SNIPPET_BYTES: usize = 1024;

#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// The whole attempt, from the DNS lookup to the last body byte.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// How often to look for due work when no NOTIFY arrives (retries falling due, a lost
    /// notification, a missed LISTEN).
    pub poll_interval: Duration,
    /// Deliveries claimed per round.
    pub batch: i64,
    /// Requests in flight at once from this dispatcher.
    pub concurrency: usize,
    /// Requests in flight at once to one URL, across every dispatcher on the database.
    pub per_endpoint: usize,
    /// Lets endpoints resolve to loopback and private addresses: development and tests only.
    pub allow_private: bool,
    /// A lease outlives the request by this much, so a slow but live attempt keeps its lease.
    pub lease_margin: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            timeout: Duration::from_secs(15),
            retry: RetryPolicy::default(),
            poll_interval: Duration::from_secs(1),
            batch: 32,
            concurrency: 16,
            per_endpoint: 4,
            allow_private: false,
            lease_margin: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Store(#[from] orbitpay_store::StoreError),
    #[error("no database connection: {0}")]
    Pool(#[from] diesel_async::pooled_connection::deadpool::PoolError),
}

pub struct Dispatcher {
    pool: DbPool,
    signer: Signer,
    config: DispatcherConfig,
    /// Names this dispatcher's leases; unique per instance so a restarted process never
    /// mistakes its predecessor's lease for its own.
    owner: String,
    /// Where to LISTEN for new deliveries; without it the loop only polls.
    listen_url: Option<String>,
    guard: Guard,
}

impl Dispatcher {
    pub fn new(pool: DbPool, signer: Signer, config: DispatcherConfig) -> Dispatcher {
        Dispatcher {
            pool,
            signer,
            owner: format!("dispatcher-{}", uuid::Uuid::new_v4()),
            listen_url: None,
            guard: Guard::new(config.allow_private),
            config,
        }
    }

    /// Wake on NOTIFY from the outbox (a dedicated connection to `database_url`), polling
    /// stays as the fallback.
    pub fn listen(mut self, database_url: impl Into<String>) -> Dispatcher {
        self.listen_url = Some(database_url.into());
        self
    }

    /// Look endpoints' hosts up with `resolver` instead of the system's.
    pub fn resolver(mut self, resolver: Arc<dyn Resolve>) -> Dispatcher {
        self.guard = Guard::with_resolver(self.config.allow_private, resolver);
        self
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// How long a lease lasts, from the claim and again from the start of its attempt.
    fn lease(&self) -> Duration {
        self.config.timeout + self.config.lease_margin
    }

    /// Claims one batch and delivers it; returns how many deliveries were leased.
    pub async fn run_once(&self) -> Result<usize, DispatchError> {
        let lease = self.lease();
        let claimed = with_retry!(self.pool, db_retry(), |conn| deliveries::claim(
            conn,
            &self.owner,
            lease,
            self.config.batch,
            self.config.per_endpoint as i64,
        ))?;
        let n = claimed.len();
        futures::stream::iter(claimed)
            .map(|c| self.deliver(c))
            .buffer_unordered(self.config.concurrency.max(1))
            .for_each(|r| async move {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "webhook attempt not recorded; its lease will expire and it is retried");
                }
            })
            .await;
        Ok(n)
    }

    /// Delivers until `shutdown`. Errors (database down) are logged and retried after a poll.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut listener = None;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            // A round that leased anything looks again at once: the per-endpoint cap, not the
            // queue, may be what made it smaller than `batch`. Only an empty round waits.
            let more = match self.run_once().await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook dispatcher round failed");
                    false
                }
            };
            if more {
                continue;
            }
            if listener.is_none()
                && let Some(url) = &self.listen_url
            {
                listener = listen(url).await;
            }
            let poll = tokio::time::sleep(self.config.poll_interval);
            match listener.as_mut() {
                Some(conn) => {
                    let woke = tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = poll => true,
                        n = orbitpay_store::listen::Listener::next(conn) => n.is_some(),
                    };
                    if !woke {
                        // The connection failed: poll until it is re-established.
                        listener = None;
                    }
                }
                None => tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = poll => {}
                },
            }
        }
    }

    async fn deliver(&self, claimed: Claimed) -> Result<(), DispatchError> {
        // The attempt counts from here, not from the lease: a lease cut short before this
        // point sent nothing. The connection goes back before the request goes out.
        let started = with_retry!(self.pool, db_retry(), |conn| deliveries::start_attempt(
            conn,
            &claimed,
            &self.owner,
            self.lease()
        ))?;
        if !started {
            tracing::warn!(delivery_id = claimed.id, event_id = %claimed.event_id,
                "webhook lease lost before the attempt; nothing sent, the new holder delivers");
            return Ok(());
        }
        let body = envelope(&claimed);
        let started_at = Utc::now();
        let t0 = Instant::now();
        let sent = self.post(&claimed, &body).await;
        let latency = t0.elapsed();
        let age = (Utc::now() - claimed.budget_from)
            .to_std()
            .unwrap_or_default();
        let outcome = self.config.retry.decide(
            claimed.attempt.max(0) as u32,
            age,
            sent.response,
            rand::random::<f64>(),
        );
        let status = match sent.response {
            Response::Status { code, .. } => Some(code),
            _ => None,
        };
        if outcome == Outcome::Delivered {
            orbitpay_store::crash::point("webhook-sent");
        }
        if status == Some(410) {
            tracing::error!(
                url = %claimed.url,
                "webhook endpoint answered 410 Gone: disabled until an admin re-enables it"
            );
            with_retry!(self.pool, db_retry(), |conn| {
                deliveries::disable_endpoint(conn, &claimed.url, "410 Gone")
            })?;
        }
        let attempt = Attempt {
            started_at,
            latency,
            status,
            error: sent.error.as_deref(),
            response_snippet: sent.snippet.as_deref(),
        };
        let held = with_retry!(self.pool, db_retry(), |conn| deliveries::record(
            conn,
            &claimed,
            &self.owner,
            &attempt,
            outcome
        ))?;
        count_outcome(outcome, held, latency);
        log_outcome(&claimed, outcome, &sent, held);
        Ok(())
    }

    async fn post(&self, claimed: &Claimed, body: &[u8]) -> Sent {
        let url = match Url::parse(&claimed.url) {
            Ok(u) => u,
            Err(e) => return Sent::unsendable(format!("invalid URL: {e}")),
        };
        let deadline = tokio::time::Instant::now() + self.config.timeout;
        let addr = match self.guard.check(&url, deadline).await {
            Ok(a) => a,
            Err(e) if e.is_transient() => return Sent::transport(e.to_string()),
            Err(e) => return Sent::unsendable(e.to_string()),
        };
        let client = match guard::client_for(addr, deadline) {
            Ok(c) => c,
            Err(e) => return Sent::transport(e.to_string()),
        };
        let id = claimed.event_id.to_string();
        let headers = self.signer.sign(&id, Utc::now().timestamp(), body);
        let result = client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &headers.id)
            .header("webhook-timestamp", headers.timestamp.to_string())
            .header("webhook-signature", &headers.signature)
            .body(body.to_vec())
            .send()
            .await;
        let mut resp = match result {
            Ok(r) => r,
            Err(e) => return Sent::transport(error_chain(&e)),
        };
        let code = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let mut snippet = Vec::new();
        let mut error = None;
        while snippet.len() < SNIPPET_BYTES {
            match resp.chunk().await {
                Ok(Some(chunk)) => snippet.extend_from_slice(&chunk),
                Ok(None) => break,
                // The status already arrived; a broken body does not change the verdict.
                Err(e) => {
                    error = Some(format!("reading the response body: {}", error_chain(&e)));
                    break;
                }
            }
        }
        snippet.truncate(SNIPPET_BYTES);
        Sent {
            response: Response::Status { code, retry_after },
            error,
            snippet: Some(String::from_utf8_lossy(&snippet).into_owned()),
        }
    }
}

/// The envelope's schema version: fields are only ever added under it; a removal or a change
/// of meaning is a new version.
pub const ENVELOPE_VERSION: u32 = 1;

/// The request body: serialized once per attempt and signed as these exact bytes.
pub fn envelope(claimed: &Claimed) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "version": ENVELOPE_VERSION,
        "id": claimed.event_id,
        "type": claimed.event_type,
        "created_at": claimed.event_created_at,
        "data": claimed.payload,
    }))
    .expect("a JSON value serializes")
}

struct Sent {
    response: Response,
    error: Option<String>,
    snippet: Option<String>,
}

impl Sent {
    fn transport(error: String) -> Sent {
        Sent {
            response: Response::Transport,
            error: Some(error),
            snippet: None,
        }
    }

    fn unsendable(error: String) -> Sent {
        Sent {
            response: Response::Unsendable,
            error: Some(error),
            snippet: None,
        }
    }
}

/// reqwest's Display omits the cause ("error sending request"); the chain says what happened.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// The LISTEN connection is the store's: the same connect as every other (TLS, multi-host,
/// SQLSTATE tags).
async fn listen(url: &str) -> Option<orbitpay_store::listen::Listener> {
    match orbitpay_store::listen::Listener::open(url, deliveries::CHANNEL).await {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "webhook dispatcher cannot LISTEN; polling only");
            None
        }
    }
}

fn count_outcome(outcome: Outcome, held: bool, latency: Duration) {
    let result = match (held, outcome) {
        (false, _) => "lease_lost",
        (true, Outcome::Delivered) => "delivered",
        (true, Outcome::Retry { .. }) => "retry",
        (true, Outcome::Dead) => "dead",
    };
    metrics::counter!("orbitpay_webhook_attempts_total", "result" => result).increment(1);
    metrics::histogram!("orbitpay_webhook_attempt_duration_seconds").record(latency.as_secs_f64());
}

fn log_outcome(c: &Claimed, outcome: Outcome, sent: &Sent, held: bool) {
    let session_id = c.session_id.map(|s| s.to_string());
    let session_id = session_id.as_deref().unwrap_or("");
    let status = match sent.response {
        Response::Status { code, .. } => i64::from(code),
        _ => -1,
    };
    let error = sent.error.as_deref().unwrap_or("");
    if !held {
        tracing::warn!(delivery_id = c.id, event_id = %c.event_id, session_id, "webhook lease lost during the attempt; the new holder decides");
        return;
    }
    match outcome {
        Outcome::Delivered => {
            tracing::info!(delivery_id = c.id, event_id = %c.event_id, session_id, attempt = c.attempt, status, "webhook delivered");
        }
        Outcome::Retry { delay } => {
            tracing::warn!(delivery_id = c.id, event_id = %c.event_id, session_id, attempt = c.attempt, status, error, retry_in_ms = delay.as_millis() as u64, "webhook attempt failed; will retry");
        }
        Outcome::Dead => {
            tracing::error!(delivery_id = c.id, event_id = %c.event_id, session_id, attempt = c.attempt, status, error, "webhook delivery dead: no more attempts");
        }
    }
}
