//! Fault injection and the request log.

use std::collections::VecDeque;
use std::time::Duration;

/// The routes the simulator serves, for targeting faults and counting requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// `GET /`
    Root,
    /// `GET /accounts/{G}/payments` without `Accept: text/event-stream`.
    AccountPayments,
    /// `GET /accounts/{G}/payments` with `Accept: text/event-stream`.
    AccountPaymentsStream,
    /// `GET /payments` (the network's) without `Accept: text/event-stream`.
    Payments,
    /// `GET /payments` with `Accept: text/event-stream`.
    PaymentsStream,
    /// `GET /transactions/{hash}`
    Transaction,
    /// `GET /transactions/{hash}/payments`
    TransactionPayments,
    /// `GET /operations/{id}/effects`
    OperationEffects,
    /// `GET /ledgers/{sequence}`
    Ledger,
    /// `GET /accounts/{id}`
    Account,
    /// Anything else (answered with a 404 problem).
    Other,
}

impl RouteKind {
    pub fn is_stream(self) -> bool {
        matches!(
            self,
            RouteKind::AccountPaymentsStream | RouteKind::PaymentsStream
        )
    }
}

/// A misbehaviour the next matching request suffers. Queue with
/// [`crate::HorizonSim::inject`] (any route) or [`crate::HorizonSim::inject_for`] (one route
/// kind); each queued fault is consumed by exactly one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Streams: 200 + headers + the `hello` preamble, then no byte ever again with the socket
    /// held open (no `byebye` at the connection timeout either) until the client hangs up or
    /// the server shuts down. REST: 200 + headers, then no body byte.
    Stall,
    /// Streams: normal until the first data event, of which only the first half of the bytes
    /// is written before the connection is aborted (no `byebye`, no chunked terminator). If no
    /// record arrives before the connection timeout the stream closes normally. REST: half the
    /// body, then the connection is aborted.
    DropMidEvent,
    /// An HTTP problem+json response with this status (500, 502, 503, 504 …) before anything else.
    Status5xx(u16),
    /// A 429 `rate_limit_exceeded` problem with `Retry-After: <secs>` and `X-RateLimit-*`
    /// headers.
    RateLimited { retry_after_secs: u64 },
    /// Streams only: after the preamble, `event: error\ndata: <text>\n\n` and the stream ends
    /// (Horizon's text is e.g. `problem: timeout`). Not consumed by REST requests.
    ErrorEvent(String),
    /// Streams: the first data event carries a valid `id:` but a `data:` line of truncated JSON;
    /// the stream then goes on normally (the broken event counts towards `limit`). REST: the
    /// body is truncated JSON with status 200.
    MalformedDataLine,
    /// Every byte of the response is written in chunks of `chunk_bytes` with `interval`
    /// between chunks.
    SlowDrip {
        chunk_bytes: usize,
        interval: Duration,
    },
    /// Wait this long before answering at all (no status line yet).
    Delay(Duration),
    /// `307 Temporary Redirect` with `Location: <url>` (e.g. another origin) and no body,
    /// before anything else; streams and REST alike.
    Redirect(String),
}

impl Fault {
    pub(crate) fn applies_to(&self, kind: RouteKind) -> bool {
        match self {
            Fault::ErrorEvent(_) => kind.is_stream(),
            _ => true,
        }
    }
}

/// Which requests a queued fault may hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Any,
    Kind(RouteKind),
}

#[derive(Default)]
pub(crate) struct FaultQueue {
    entries: VecDeque<(Target, Fault)>,
}

impl FaultQueue {
    pub fn push(&mut self, target: Target, fault: Fault) {
        self.entries.push_back((target, fault));
    }

    /// Takes the oldest fault matching this request.
    pub fn take(&mut self, kind: RouteKind) -> Option<Fault> {
        let pos = self.entries.iter().position(|(t, f)| {
            (match t {
                Target::Any => true,
                Target::Kind(k) => *k == kind,
            }) && f.applies_to(kind)
        })?;
        self.entries.remove(pos).map(|(_, f)| f)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// One request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// 0-based arrival order.
    pub seq: u64,
    pub kind: RouteKind,
    pub path: String,
    /// Raw query string (without `?`), empty when absent.
    pub query: String,
    /// The `Last-Event-ID` request header, if sent.
    pub last_event_id: Option<String>,
    /// All request headers, lowercase names, in arrival order (non-UTF-8 values are lossy).
    pub headers: Vec<(String, String)>,
    /// The fault this request consumed, if any.
    pub fault: Option<Fault>,
}

impl RequestRecord {
    /// The value of query parameter `name` (percent-decoded), if present.
    pub fn query_param(&self, name: &str) -> Option<String> {
        crate::server::parse_query(&self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}
