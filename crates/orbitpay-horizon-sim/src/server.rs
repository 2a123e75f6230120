//! The HTTP side: axum routes, Horizon's parameter validation, REST pages, SSE streams and the
//! byte-level delivery that faults tamper with.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use orbitpay_core::{AccountId, toid};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

use crate::HorizonSim;
use crate::fault::{Fault, RouteKind};
use crate::model::{Ledger, PaymentRef};
use crate::render::{self, Problem, to_compact, to_pretty};

pub(crate) const PREAMBLE: &str = "retry: 1000\nevent: open\ndata: \"hello\"\n\n";
pub(crate) const GOODBYE: &str = "retry: 10\nevent: close\ndata: \"byebye\"\n\n";

#[derive(Clone)]
struct AppState {
    sim: HorizonSim,
    shutdown: watch::Receiver<bool>,
}

pub(crate) fn router(sim: HorizonSim, shutdown: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/accounts/{account_id}/payments", get(account_payments))
        .route("/transactions/{tx_id}", get(transaction))
        .route("/transactions/{tx_id}/payments", get(transaction_payments))
        .route("/operations/{op_id}/effects", get(operation_effects))
        .fallback(fallback)
        .with_state(AppState { sim, shutdown })
}

/// A running server. Dropping it also shuts the server down (without waiting).
pub struct ServerHandle {
    addr: SocketAddr,
    base_url: String,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Ends open streams (their bodies finish), stops accepting, and waits (≤ 5 s) for the
    /// server task.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    /// Waits until the server stops (for the binary).
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

pub(crate) async fn serve(sim: HorizonSim, addr: &str) -> io::Result<ServerHandle> {
    use axum::serve::ListenerExt as _;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    // Nagle plus delayed ACKs would hold every small SSE write for ~40 ms.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let (tx, rx) = watch::channel(false);
    let app = router(sim, rx.clone());
    let mut signal = rx;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown_signal(&mut signal).await;
            })
            .await;
    });
    Ok(ServerHandle {
        addr: local,
        base_url: format!("http://{local}"),
        shutdown: tx,
        task: Some(task),
    })
}

/// Resolves when shutdown is signalled; never if the sender is gone without signalling.
async fn shutdown_signal(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Splits and percent-decodes a query string (`+` is a space), keeping order.
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    fn hex(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                },
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(kv), String::new()),
        })
        .collect()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> &'a str {
    q.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

fn base_url(sim: &HorizonSim, headers: &HeaderMap) -> String {
    if let Some(b) = &sim.settings().base_url {
        return b.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn problem_response(p: &Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, to_pretty(p)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json; charset=utf-8"),
    );
    resp
}

/// Faults that answer before anything else. `Some(response)` ends the request.
async fn pre_fault(fault: &Option<Fault>) -> Option<Response> {
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
        _ => None,
    }
}

type Chunk = Result<Bytes, io::Error>;

/// The byte sink of a response body, honouring `SlowDrip`.
struct Out {
    tx: mpsc::Sender<Chunk>,
    drip: Option<(usize, Duration)>,
    shutdown: watch::Receiver<bool>,
}

struct Gone;

impl Out {
    fn new(drip: Option<(usize, Duration)>, shutdown: watch::Receiver<bool>) -> (Out, Body) {
        let (tx, rx) = mpsc::channel::<Chunk>(16);
        (
            Out { tx, drip, shutdown },
            Body::from_stream(ReceiverStream::new(rx)),
        )
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), Gone> {
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
    async fn abort(self) {
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
    async fn hold(mut self) {
        let tx = self.tx.clone();
        tokio::select! {
            _ = tx.closed() => {}
            _ = shutdown_signal(&mut self.shutdown) => {}
        }
    }
}

fn drip_of(fault: &Option<Fault>) -> Option<(usize, Duration)> {
    match fault {
        Some(Fault::SlowDrip {
            chunk_bytes,
            interval,
        }) => Some((*chunk_bytes, *interval)),
        _ => None,
    }
}

/// A successful REST body, delivered as the fault (if any) dictates.
fn rest_response(
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

const HAL: &str = "application/hal+json; charset=utf-8";

// ---------------------------------------------------------------------------------------------
// Paging parameters (Horizon's GetPageQuery + validateAndAdjustCursor + OperationsQuery)
// ---------------------------------------------------------------------------------------------

pub(crate) struct PageParams {
    /// The cursor as used for links (after `now` and `Last-Event-ID` resolution).
    cursor: String,
    /// Exclusive bound: asc → tokens > after; desc → tokens < after.
    after: i64,
    asc: bool,
    limit: usize,
    include_failed: bool,
    join_tx: bool,
}

fn parse_bool(field: &str, v: &str) -> Result<bool, Problem> {
    match v {
        "" => Ok(false),
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(Problem::invalid_field(field, "invalid bool value")),
    }
}

fn page_params(
    q: &[(String, String)],
    headers: &HeaderMap,
    ledger: &Ledger,
) -> Result<PageParams, Problem> {
    let mut cursor = param(q, "cursor").to_owned();
    if cursor == "now" {
        // toid.AfterLedger(latest): after every operation of the latest ledger.
        cursor = (toid::ledger_start(ledger.latest + 1) - 1).to_string();
    }
    if let Some(v) = headers.get("last-event-id") {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        if !v.is_empty() {
            cursor = v;
        }
    }
    if let Ok(n) = cursor.parse::<i64>()
        && n < 0
    {
        return Err(Problem::invalid_field(
            "cursor",
            &format!("the cursor {n} is a negative number: "),
        ));
    }
    let asc = match param(q, "order") {
        "" | "asc" => true,
        "desc" => false,
        _ => return Err(Problem::invalid_field("order", "order: invalid value")),
    };
    let limit = match param(q, "limit") {
        "" => 10,
        s => {
            let n: i64 = s
                .parse()
                .map_err(|_| Problem::invalid_field("limit", "unparseable value"))?;
            if n <= 0 {
                return Err(Problem::invalid_field(
                    "limit",
                    "invalid limit: non-positive value provided",
                ));
            }
            if n > 200 {
                return Err(Problem::invalid_field(
                    "limit",
                    "invalid limit: value provided that is over limit max of 200",
                ));
            }
            n as usize
        }
    };
    let parsed: Option<i64> = if cursor.is_empty() {
        None
    } else {
        Some(
            cursor
                .parse()
                .map_err(|_| Problem::invalid_field("cursor", "invalid value"))?,
        )
    };
    let floor = toid::ledger_start(ledger.elder());
    let after = if asc {
        // Before history (or no cursor): start at the oldest retained ledger, silently.
        match parsed {
            Some(c) if c > floor => c,
            _ => floor - 1,
        }
    } else {
        match parsed {
            None => i64::MAX,
            Some(c) if c <= floor => return Err(Problem::before_history()),
            Some(c) => c,
        }
    };
    let include_failed = parse_bool("include_failed", param(q, "include_failed"))?;
    let join_tx = match param(q, "join") {
        "" => false,
        "transactions" => true,
        _ => {
            return Err(Problem::invalid_field(
                "join",
                "Accepted values: transactions",
            ));
        }
    };
    Ok(PageParams {
        cursor,
        after,
        asc,
        limit,
        include_failed,
        join_tx,
    })
}

/// A HAL page of operation records (account payments and transaction payments alike), and the
/// latest ledger for the response headers.
fn ops_page(
    base: &str,
    ledger: &Ledger,
    refs: &[PaymentRef],
    path: &str,
    q: &[(String, String)],
    p: &PageParams,
) -> (String, u32) {
    let records: Vec<_> = refs
        .iter()
        .map(|r| render::op_record(base, ledger, r, p.join_tx))
        .collect();
    let spec = render::PageSpec {
        base,
        path,
        params: q,
        cursor: &p.cursor,
        asc: p.asc,
        limit: p.limit,
    };
    (
        to_pretty(&render::page(&spec, first_last(refs), records)),
        ledger.latest,
    )
}

fn first_last(refs: &[PaymentRef]) -> Option<(String, String)> {
    Some((
        refs.first()?.toid.to_string(),
        refs.last()?.toid.to_string(),
    ))
}

fn valid_hash(h: &str) -> bool {
    h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

async fn root(State(st): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let fault = st.sim.begin_request(RouteKind::Root, &uri, &headers);
    if let Some(r) = pre_fault(&fault).await {
        return r;
    }
    let base = base_url(&st.sim, &headers);
    let passphrase = st.sim.settings().passphrase.clone();
    let (text, latest) = {
        let l = st.sim.ledger();
        (to_pretty(&render::root(&base, &l, &passphrase)), l.latest)
    };
    rest_response(&st, text, latest, HAL, fault)
}

async fn fallback(State(st): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let fault = st.sim.begin_request(RouteKind::Other, &uri, &headers);
    if let Some(r) = pre_fault(&fault).await {
        return r;
    }
    problem_response(&Problem::not_found())
}

async fn account_payments(
    State(st): State<AppState>,
    Path(account): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let stream = wants_stream(&headers);
    let kind = if stream {
        RouteKind::AccountPaymentsStream
    } else {
        RouteKind::AccountPayments
    };
    let fault = st.sim.begin_request(kind, &uri, &headers);
    if let Some(r) = pre_fault(&fault).await {
        return r;
    }
    let q = parse_query(uri.query().unwrap_or(""));
    let base = base_url(&st.sim, &headers);
    let Ok(account) = account.parse::<AccountId>() else {
        return problem_response(&Problem::invalid_field("account_id", "invalid address"));
    };
    let (text, latest) = {
        let ledger = st.sim.ledger();
        let p = match page_params(&q, &headers, &ledger) {
            Ok(p) => p,
            Err(e) => return problem_response(&e),
        };
        if !ledger.known.contains(&account) {
            return problem_response(&Problem::not_found());
        }
        if stream {
            drop(ledger);
            return stream_response(&st, base, account, p, fault);
        }
        let refs = ledger.account_page(&account, p.after, p.asc, p.limit, p.include_failed);
        ops_page(&base, &ledger, &refs, uri.path(), &q, &p)
    };
    rest_response(&st, text, latest, HAL, fault)
}

async fn transaction(
    State(st): State<AppState>,
    Path(tx_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let fault = st.sim.begin_request(RouteKind::Transaction, &uri, &headers);
    if let Some(r) = pre_fault(&fault).await {
        return r;
    }
    if !valid_hash(&tx_id) {
        return problem_response(&Problem::invalid_field("tx_id", "invalid hash format"));
    }
    let base = base_url(&st.sim, &headers);
    let (text, latest) = {
        let l = st.sim.ledger();
        let Some(stx) = l.by_hash.get(&tx_id).map(|&i| &l.txs[i as usize]) else {
            return problem_response(&Problem::not_found());
        };
        if !l.retained(stx.ledger) {
            return problem_response(&Problem::not_found());
        }
        (to_pretty(&render::tx_record(&base, stx)), l.latest)
    };
    rest_response(&st, text, latest, HAL, fault)
}

async fn transaction_payments(
    State(st): State<AppState>,
    Path(tx_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let fault = st
        .sim
        .begin_request(RouteKind::TransactionPayments, &uri, &headers);
    if let Some(r) = pre_fault(&fault).await {
        return r;
    }
    if !valid_hash(&tx_id) {
        return problem_response(&Problem::invalid_field("tx_id", "invalid hash format"));
    }
    let q = parse_query(uri.query().unwrap_or(""));
    let base = base_url(&st.sim, &headers);
    let (text, latest) = {
        let l = st.sim.ledger();
        let p = match page_params(&q, &headers, &l) {
            Ok(p) => p,
            Err(e) => return problem_response(&e),
        };
        let Some(&i) = l.by_hash.get(&tx_id) else {
            return problem_response(&Problem::not_found());
        };
        if !l.retained(l.txs[i as usize].ledger) {
            return problem_response(&Problem::not_found());
        }
        // A transaction-scoped query always includes failed operations.
        let mut refs: Vec<PaymentRef> = l
            .tx_payments(i as usize)
            .into_iter()
            .filter(|r| {
                if p.asc {
                    r.toid > p.after
                } else {
                    r.toid < p.after
                }
            })
            .collect();
        if !p.asc {
            refs.reverse();
        }
        refs.truncate(p.limit);
        ops_page(&base, &l, &refs, uri.path(), &q, &p)
    };
    rest_response(&st, text, latest, HAL, fault)
}

async fn operation_effects(
    State(st): State<AppState>,
    Path(op_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let fault = st
        .sim
        .begin_request(RouteKind::OperationEffects, &uri, &headers);
    if let Some(r) = pre_fault(&fault).await {
        return r;
    }
    let Ok(op_id) = op_id.parse::<i64>() else {
        return problem_response(&Problem::invalid_field("op_id", "invalid int64 value"));
    };
    if op_id <= 0 {
        return problem_response(&Problem::invalid_field("op_id", "invalid int64 value"));
    }
    let q = parse_query(uri.query().unwrap_or(""));
    let base = base_url(&st.sim, &headers);
    let asc = match param(&q, "order") {
        "" | "asc" => true,
        "desc" => false,
        _ => return problem_response(&Problem::invalid_field("order", "order: invalid value")),
    };
    let limit = match param(&q, "limit") {
        "" => 10usize,
        s => match s.parse::<i64>() {
            Ok(n) if (1..=200).contains(&n) => n as usize,
            Ok(_) => {
                return problem_response(&Problem::invalid_field(
                    "limit",
                    "invalid limit: value provided that is over limit max of 200",
                ));
            }
            Err(_) => {
                return problem_response(&Problem::invalid_field("limit", "unparseable value"));
            }
        },
    };
    // Effect cursors are "<operation id>-<order>".
    let cursor = param(&q, "cursor").to_owned();
    let after: Option<(i64, usize)> = if cursor.is_empty() {
        None
    } else {
        let (a, b) = cursor.split_once('-').unwrap_or((cursor.as_str(), "0"));
        match (a.parse::<i64>(), b.parse::<usize>()) {
            (Ok(a), Ok(b)) if a >= 0 => Some((a, b)),
            _ => return problem_response(&Problem::invalid_field("cursor", "invalid value")),
        }
    };
    let (text, latest) = {
        let l = st.sim.ledger();
        let ledger_seq = toid::ledger(op_id);
        let order = ((op_id >> 12) & 0xF_FFFF) as u32;
        let index = (op_id & 0xFFF) as usize;
        let mut records = match l.tx_at(ledger_seq, order) {
            Some(i) if index >= 1 && index <= l.txs[i].tx.ops.len() && l.retained(ledger_seq) => {
                render::effects(&base, &l.txs[i], index - 1, op_id)
            }
            _ => Vec::new(),
        };
        let key = |k: usize| (op_id, k + 1);
        let mut keyed: Vec<(usize, _)> = records.drain(..).enumerate().collect();
        keyed.retain(|(k, _)| match after {
            None => true,
            Some(c) if asc => key(*k) > c,
            Some(c) => key(*k) < c,
        });
        if !asc {
            keyed.reverse();
        }
        keyed.truncate(limit);
        let fl = match (keyed.first(), keyed.last()) {
            (Some((a, _)), Some((b, _))) => {
                Some((format!("{op_id}-{}", a + 1), format!("{op_id}-{}", b + 1)))
            }
            _ => None,
        };
        let page = render::page(
            &render::PageSpec {
                base: &base,
                path: uri.path(),
                params: &q,
                cursor: &cursor,
                asc,
                limit,
            },
            fl,
            keyed.into_iter().map(|(_, r)| r).collect(),
        );
        (to_pretty(&page), l.latest)
    };
    rest_response(&st, text, latest, HAL, fault)
}

// ---------------------------------------------------------------------------------------------
// SSE
// ---------------------------------------------------------------------------------------------

fn stream_response(
    st: &AppState,
    base: String,
    account: AccountId,
    p: PageParams,
    fault: Option<Fault>,
) -> Response {
    let (out, body) = Out::new(drip_of(&fault), st.shutdown.clone());
    let sim = st.sim.clone();
    tokio::spawn(async move {
        let _ = run_stream(sim, base, account, p, fault, out).await;
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
    account: AccountId,
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
    let deadline = tokio::time::Instant::now() + sim.stream_timeout();
    let mut changes = sim.inner.changes.subscribe();
    let mut after = p.after;
    let mut sent = 0usize;
    loop {
        changes.borrow_and_update();
        let events: Vec<(i64, String)> = {
            let l = sim.ledger();
            l.account_page(&account, after, true, p.limit - sent, p.include_failed)
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
            if sent >= p.limit {
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
