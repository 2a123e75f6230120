//! Response delivery: problem bodies, REST bodies, and the byte sink that faults tamper with.

use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use super::{AppState, shutdown_signal};
use crate::fault::Fault;
use crate::render::{Problem, to_pretty};

pub(super) fn problem_response(p: &Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, to_pretty(p)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json; charset=utf-8"),
    );
    resp
}

/// Faults that answer before anything else. `Some(response)` ends the request.
pub(super) async fn pre_fault(fault: &Option<Fault>) -> Option<Response> {
    match fault {
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(*d).await;
            None
        }
        Some(Fault::Status5xx(status)) => Some(problem_response(&Problem::server(*status))),
        Some(Fault::RateLimited { retry_after_secs }) => {
            let mut resp = problem_response(&Problem::rate_limited());
            let h = resp.headers_mut();
            let secs = HeaderValue::from(*retry_after_secs);
            h.insert(header::RETRY_AFTER, secs.clone());
            h.insert("x-ratelimit-limit", HeaderValue::from_static("100"));
            h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            h.insert("x-ratelimit-reset", secs);
            Some(resp)
        }
        Some(Fault::Redirect(location)) => Some(
            Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header(header::LOCATION, location.as_str())
                .body(Body::empty())
                .unwrap_or_else(|_| problem_response(&Problem::server(500))),
        ),
        _ => None,
    }
}

type Chunk = Result<Bytes, io::Error>;

/// The byte sink of a response body, honouring `SlowDrip`.
pub(super) struct Out {
    pub(super) tx: mpsc::Sender<Chunk>,
    drip: Option<(usize, Duration)>,
    pub(super) shutdown: watch::Receiver<bool>,
}

pub(super) struct Gone;

impl Out {
    pub(super) fn new(
        drip: Option<(usize, Duration)>,
        shutdown: watch::Receiver<bool>,
    ) -> (Out, Body) {
        let (tx, rx) = mpsc::channel::<Chunk>(16);
        (
            Out { tx, drip, shutdown },
            Body::from_stream(ReceiverStream::new(rx)),
        )
    }

    pub(super) async fn write(&mut self, data: &[u8]) -> Result<(), Gone> {
        match self.drip {
            None => self
                .tx
                .send(Ok(Bytes::copy_from_slice(data)))
                .await
                .map_err(|_| Gone),
            Some((n, interval)) => {
                for (i, chunk) in data.chunks(n.max(1)).enumerate() {
                    if i > 0 {
                        let mut sd = self.shutdown.clone();
                        tokio::select! {
                            _ = tokio::time::sleep(interval) => {}
                            _ = shutdown_signal(&mut sd) => return Err(Gone),
                        }
                    }
                    self.tx
                        .send(Ok(Bytes::copy_from_slice(chunk)))
                        .await
                        .map_err(|_| Gone)?;
                }
                // Pause after the write too, so consecutive writes are also spaced.
                let mut sd = self.shutdown.clone();
                tokio::select! {
                    _ = tokio::time::sleep(interval) => Ok(()),
                    _ = shutdown_signal(&mut sd) => Err(Gone),
                }
            }
        }
    }

    /// Aborts the connection: hyper sees a body error and closes the socket without finishing
    /// the chunked body.
    pub(super) async fn abort(self) {
        // Let hyper put the bytes already queued on the wire first: a body error discards
        // whatever is still buffered.
        for _ in 0..100 {
            if self.tx.capacity() == self.tx.max_capacity() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = self
            .tx
            .send(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "simulated connection drop",
            )))
            .await;
    }

    /// Holds the connection open, silent, until the client leaves or the server shuts down.
    pub(super) async fn hold(mut self) {
        let tx = self.tx.clone();
        tokio::select! {
            _ = tx.closed() => {}
            _ = shutdown_signal(&mut self.shutdown) => {}
        }
    }
}

pub(super) fn drip_of(fault: &Option<Fault>) -> Option<(usize, Duration)> {
    match fault {
        Some(Fault::SlowDrip {
            chunk_bytes,
            interval,
        }) => Some((*chunk_bytes, *interval)),
        _ => None,
    }
}

/// A successful REST body, delivered as the fault (if any) dictates.
pub(super) fn rest_response(
    st: &AppState,
    text: String,
    latest: u32,
    content_type: &'static str,
    fault: Option<Fault>,
) -> Response {
    let builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header("latest-ledger", latest);
    let body = match fault {
        Some(Fault::Stall) => {
            let (out, body) = Out::new(None, st.shutdown.clone());
            tokio::spawn(out.hold());
            body
        }
        Some(Fault::DropMidEvent) => {
            let (mut out, body) = Out::new(None, st.shutdown.clone());
            tokio::spawn(async move {
                let half = &text.as_bytes()[..text.len() / 2];
                if out.write(half).await.is_ok() {
                    out.abort().await;
                }
            });
            body
        }
        Some(Fault::MalformedDataLine) => Body::from(text.as_bytes()[..text.len() / 2].to_vec()),
        ref f @ Some(Fault::SlowDrip { .. }) => {
            let (mut out, body) = Out::new(drip_of(f), st.shutdown.clone());
            tokio::spawn(async move {
                let _ = out.write(text.as_bytes()).await;
            });
            body
        }
        _ => Body::from(text),
    };
    builder
        .body(body)
        .unwrap_or_else(|_| problem_response(&Problem::server(500)))
}

pub(super) const HAL: &str = "application/hal+json; charset=utf-8";
