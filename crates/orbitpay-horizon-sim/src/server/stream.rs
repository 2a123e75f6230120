//! SSE streams of payments (an account's or the network's): catch-up, then live records as
//! ledgers close.

use axum::http::{StatusCode, header};
use axum::response::Response;

use super::delivery::{Gone, Out, drip_of, problem_response};
use super::request::PageParams;
use super::{AppState, shutdown_signal};
use crate::HorizonSim;
use crate::fault::Fault;
use crate::model::Scope;
use crate::render::{self, Problem, to_compact};

pub(crate) const PREAMBLE: &str = "retry: 1000\nevent: open\ndata: \"hello\"\n\n";
pub(crate) const GOODBYE: &str = "retry: 10\nevent: close\ndata: \"byebye\"\n\n";

pub(super) fn stream_response(
    st: &AppState,
    base: String,
    scope: Scope,
    p: PageParams,
    fault: Option<Fault>,
) -> Response {
    let (out, body) = Out::new(drip_of(&fault), st.shutdown.clone());
    let sim = st.sim.clone();
    tokio::spawn(async move {
        let _ = run_stream(sim, base, scope, p, fault, out).await;
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .body(body)
        .unwrap_or_else(|_| problem_response(&Problem::server(500)))
}

async fn run_stream(
    sim: HorizonSim,
    base: String,
    scope: Scope,
    p: PageParams,
    fault: Option<Fault>,
    mut out: Out,
) -> Result<(), Gone> {
    out.write(PREAMBLE.as_bytes()).await?;
    match &fault {
        Some(Fault::Stall) => {
            out.hold().await;
            return Ok(());
        }
        Some(Fault::ErrorEvent(text)) => {
            out.write(format!("event: error\ndata: {text}\n\n").as_bytes())
                .await?;
            return Ok(());
        }
        _ => {}
    }
    let drop_next = matches!(fault, Some(Fault::DropMidEvent));
    let mut malformed_next = matches!(fault, Some(Fault::MalformedDataLine));
    let limit = sim
        .stream_event_limit()
        .map_or(p.limit, |cap| cap.min(p.limit));
    let deadline = tokio::time::Instant::now() + sim.stream_timeout();
    let mut changes = sim.inner.changes.subscribe();
    let mut after = p.after;
    let mut sent = 0usize;
    loop {
        changes.borrow_and_update();
        let events: Vec<(i64, String)> = {
            let l = sim.ledger();
            l.page(&scope, after, true, limit - sent, p.include_failed)
                .iter()
                .map(|r| {
                    (
                        r.toid,
                        to_compact(&render::op_record(&base, &l, r, p.join_tx)),
                    )
                })
                .collect()
        };
        for (token, json) in events {
            if sim.skipped_in_streams(token) {
                after = token;
                continue;
            }
            let data: &[u8] = if malformed_next {
                malformed_next = false;
                &json.as_bytes()[..json.len() / 2]
            } else {
                json.as_bytes()
            };
            let mut ev = Vec::with_capacity(data.len() + 32);
            ev.extend_from_slice(format!("id: {token}\ndata: ").as_bytes());
            ev.extend_from_slice(data);
            ev.extend_from_slice(b"\n\n");
            if drop_next {
                out.write(&ev[..ev.len() / 2]).await?;
                out.abort().await;
                return Ok(());
            }
            out.write(&ev).await?;
            sent += 1;
            after = token;
            if sent >= limit {
                out.write(GOODBYE.as_bytes()).await?;
                return Ok(());
            }
        }
        let closed = out.tx.clone();
        let mut sd = out.shutdown.clone();
        tokio::select! {
            r = changes.changed() => {
                if r.is_err() {
                    return Ok(());
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                out.write(GOODBYE.as_bytes()).await?;
                return Ok(());
            }
            _ = closed.closed() => return Ok(()),
            _ = shutdown_signal(&mut sd) => return Ok(()),
        }
    }
}
