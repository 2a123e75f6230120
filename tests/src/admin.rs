//! The merchant's side of the workload: admin requests that survive a daemon being killed,
//! restarted or frozen under them. Each request is retried (same Idempotency-Key, same body)
//! against the instances' sockets in turn until one answers, as a client that cannot tell a
//! crash from a slow network must.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use orbitpay_cli::{ApiResponse, Client};
use serde_json::Value;

/// How long one attempt may take before the next socket is tried (a SIGSTOPped instance
/// accepts and never answers).
const ATTEMPT: Duration = Duration::from_secs(4);

#[derive(Clone)]
pub struct Admin {
    sockets: Vec<PathBuf>,
    /// The socket that answered last: tried first.
    last_good: Arc<AtomicUsize>,
    /// Give up on one request after this long.
    bound: Duration,
}

/// What became of a request.
#[derive(Debug)]
pub enum Answer {
    /// The daemon answered with something other than 5xx or "key in use".
    Got(ApiResponse),
    /// No instance answered within the bound (every one down, or the key held by a request a
    /// kill cut short: its lock goes stale only after a minute). The client gives up; what it
    /// asked may or may not have happened.
    GaveUp(String),
}

impl Admin {
    pub fn new(sockets: Vec<PathBuf>, bound: Duration) -> Admin {
        Admin {
            sockets,
            last_good: Arc::default(),
            bound,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(|c| {
            let path = path.to_owned();
            async move { c.get(&path).await }
        })
        .await
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Answer {
        self.call(|c| {
            let (path, key, body) = (path.to_owned(), key.to_owned(), body.clone());
            async move {
                c.post_json(&path, &[("Idempotency-Key", key.as_str())], &body)
                    .await
            }
        })
        .await
    }

    async fn call<F, Fut>(&self, send: F) -> Answer
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<ApiResponse, orbitpay_cli::ClientError>>,
    {
        let deadline = Instant::now() + self.bound;
        let mut last = String::from("no attempt");
        let first = self.last_good.load(Ordering::Relaxed);
        for i in first.. {
            let at = i % self.sockets.len();
            let socket = &self.sockets[at];
            if let Ok(client) = Client::new(socket) {
                match tokio::time::timeout(ATTEMPT, send(client)).await {
                    Ok(Ok(r)) if r.status >= 500 => last = format!("{}", r.status),
                    // Held by a request a kill cut short, until it goes stale (a minute).
                    Ok(Ok(r)) if r.error_code().as_deref() == Some("IDEMPOTENCY_KEY_IN_USE") => {
                        return Answer::GaveUp("IDEMPOTENCY_KEY_IN_USE".into());
                    }
                    Ok(Ok(r)) => {
                        self.last_good.store(at, Ordering::Relaxed);
                        return Answer::Got(r);
                    }
                    Ok(Err(e)) => last = e.to_string(),
                    Err(_) => last = format!("no answer within {ATTEMPT:?}"),
                }
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Answer::GaveUp(last)
    }
}
