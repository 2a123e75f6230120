//! A webhook receiver on loopback: records every request, answers as a script says, and notes
//! a `webhook-id` that arrives while another request with it is still being answered (two
//! dispatchers sending one delivery at once). Shared by the dispatcher's, the daemon's and the
//! end-to-end tests, the demo and the bench.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

#[derive(Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn id(&self) -> String {
        self.headers["webhook-id"].to_str().unwrap().to_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Checks the signature with the Standard Webhooks reference library, as a merchant would
    /// (it also refuses a timestamp more than five minutes off).
    pub fn verify(&self, secret: &str) -> Result<serde_json::Value, String> {
        standardwebhooks::Webhook::new(secret)
            .map_err(|e| format!("secret: {e}"))?
            .verify(&self.body, &self.headers)
            .map_err(|e| format!("signature: {e}"))?;
        serde_json::from_slice(&self.body).map_err(|e| format!("body: {e}"))
    }
}

/// Answers each request with what `script` says (status, delay before answering) and notes any
/// webhook-id that arrives while a request with the same id is still being answered.
type Script = Box<dyn FnMut(&Received) -> (u16, Duration) + Send>;

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub log: Arc<Mutex<Vec<Received>>>,
    pub in_flight: Arc<Mutex<HashMap<String, usize>>>,
    pub overlaps: Arc<Mutex<Vec<String>>>,
    pub script: Arc<Mutex<Script>>,
}

impl Receiver {
    pub async fn start(
        script: impl FnMut(&Received) -> (u16, Duration) + Send + 'static,
    ) -> Receiver {
        Self::start_on("127.0.0.1:0", script).await
    }

    /// On a given address: to come back where a dead endpoint was.
    pub async fn start_on(
        addr: &str,
        script: impl FnMut(&Received) -> (u16, Duration) + Send + 'static,
    ) -> Receiver {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let r = Receiver {
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
            log: Arc::default(),
            in_flight: Arc::default(),
            overlaps: Arc::default(),
            script: Arc::new(Mutex::new(Box::new(script))),
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(handle))
            .with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        r
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }
}

pub async fn handle(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let got = Received { headers, body };
    let id = got.id();
    {
        let mut f = r.in_flight.lock().unwrap();
        let n = f.entry(id.clone()).or_default();
        if *n > 0 {
            r.overlaps.lock().unwrap().push(id.clone());
        }
        *n += 1;
    }
    r.log.lock().unwrap().push(got.clone());
    let (status, delay) = (r.script.lock().unwrap())(&got);
    tokio::time::sleep(delay).await;
    *r.in_flight.lock().unwrap().get_mut(&id).unwrap() -= 1;
    StatusCode::from_u16(status).unwrap()
}

pub fn ok(_: &Received) -> (u16, Duration) {
    (200, Duration::ZERO)
}
