//! Server-sent events on top of reqwest's byte stream.
//!
//! Why not `reqwest-eventsource`: with its retries switched off it is only "send, check
//! status and content type, parse" — and it hides the byte stream, so it can neither bound
//! the memory one event may take (its parser buffers until a blank line, however long) nor
//! watch for silence at the byte level. Its reconnect logic is replaced by the follower's
//! outer loop anyway (it ignores `max_retries`, sends `Last-Event-ID` only on its own
//! reconnects, and times backoff with the wall clock). So the parser it wraps,
//! `eventsource-stream`, is used directly on `bytes_stream()` behind [`guard_bytes`].

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::convert::{parse_token, record_from_json};
use crate::source::{SourceError, StreamEvent};

/// Tracks how many bytes arrived since the last blank line (the end of an SSE event).
#[derive(Debug, Default)]
pub(crate) struct EventSizeGauge {
    since_blank: usize,
    line_len: usize,
    last_cr: bool,
}

impl EventSizeGauge {
    /// Feeds a chunk; returns the largest pending-event size seen while reading it.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> usize {
        let mut peak = self.since_blank;
        for &b in chunk {
            match b {
                // CRLF: the CR already ended the line.
                b'\n' if self.last_cr => self.last_cr = false,
                b'\n' | b'\r' => {
                    if self.line_len == 0 {
                        self.since_blank = 0;
                    } else {
                        self.since_blank += 1;
                    }
                    self.line_len = 0;
                    self.last_cr = b == b'\r';
                }
                _ => {
                    self.line_len += 1;
                    self.since_blank += 1;
                    self.last_cr = false;
                }
            }
            peak = peak.max(self.since_blank);
        }
        peak
    }
}

/// Wraps a body stream: a chunk must arrive within `stall`, and no event may grow beyond
/// `max_event` bytes. Either breach yields one error and ends the stream.
pub(crate) fn guard_bytes<S>(
    inner: S,
    stall: Duration,
    max_event: usize,
) -> impl Stream<Item = Result<Bytes, SourceError>> + Send + 'static
where
    S: Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
{
    struct State<S> {
        inner: std::pin::Pin<Box<S>>,
        gauge: EventSizeGauge,
        done: bool,
    }
    let state = State {
        inner: Box::pin(inner),
        gauge: EventSizeGauge::default(),
        done: false,
    };
    futures::stream::unfold(state, move |mut st| async move {
        if st.done {
            return None;
        }
        let item = match tokio::time::timeout(stall, st.inner.next()).await {
            Err(_) => Err(SourceError::Stalled(stall)),
            Ok(None) => return None,
            Ok(Some(Err(e))) if e.is_timeout() => Err(SourceError::Stalled(stall)),
            Ok(Some(Err(e))) => Err(crate::horizon::map_reqwest(&e)),
            Ok(Some(Ok(chunk))) => {
                if st.gauge.feed(&chunk) > max_event {
                    Err(SourceError::TooLarge { limit: max_event })
                } else {
                    Ok(chunk)
                }
            }
        };
        st.done = item.is_err();
        Some((item, st))
    })
}

/// Maps a parsed SSE event to what the follower acts on; unknown event types are dropped.
pub(crate) fn to_stream_event(ev: eventsource_stream::Event) -> Option<StreamEvent> {
    match ev.event.as_str() {
        "open" => Some(StreamEvent::Open),
        "close" => Some(StreamEvent::Closed),
        // Plain text, not JSON (`problem: timeout`, `problem: rate_limit_exceeded. ...`).
        "error" => Some(StreamEvent::ServerError(
            ev.data.chars().take(500).collect(),
        )),
        "message" => Some(StreamEvent::Record(record_from_json(
            &ev.data,
            parse_token(&ev.id),
        ))),
        other => {
            tracing::debug!(event = other, "ignoring unknown SSE event type");
            None
        }
    }
}

pub(crate) fn map_parse_error(e: eventsource_stream::EventStreamError<SourceError>) -> SourceError {
    match e {
        eventsource_stream::EventStreamError::Utf8(e) => {
            SourceError::Malformed(format!("stream is not UTF-8: {e}"))
        }
        eventsource_stream::EventStreamError::Parser(e) => {
            SourceError::Malformed(format!("SSE parse error: {e}"))
        }
        eventsource_stream::EventStreamError::Transport(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_resets_on_blank_lines_in_every_line_ending() {
        let mut g = EventSizeGauge::default();
        assert_eq!(g.feed(b"data: abc\n"), 10);
        assert_eq!(g.feed(b"\n"), 10);
        assert_eq!(g.since_blank, 0);
        g.feed(b"data: x\r\n\r\n");
        assert_eq!(g.since_blank, 0);
        g.feed(b"data: x\r\r");
        assert_eq!(g.since_blank, 0);
        // A CRLF split across chunks is still one line ending.
        g.feed(b"data: y\r");
        g.feed(b"\nid: 1\r");
        assert!(g.since_blank > 0);
        g.feed(b"\n\r\n");
        assert_eq!(g.since_blank, 0);
    }

    /// The literal wire blocks Horizon's source and tests assert, run through the parser.
    #[tokio::test]
    async fn horizon_wire_blocks_map_to_stream_events() {
        use eventsource_stream::Eventsource as _;
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/horizon/sse_wire_format_from_horizon_source_and_tests.txt"
        ))
        .unwrap();
        let mut events = Vec::new();
        for block in text.split("BEGIN\n").skip(1) {
            let body = block.split("END").next().unwrap();
            // The last error block is quoted without its closing blank line.
            let wire = format!("{body}\n");
            let parsed: Vec<_> = futures::stream::iter([Ok::<_, SourceError>(Bytes::from(wire))])
                .eventsource()
                .collect()
                .await;
            for ev in parsed {
                events.extend(to_stream_event(ev.unwrap()));
            }
        }
        let summary: Vec<String> = events
            .iter()
            .map(|e| match e {
                StreamEvent::Open => "open".into(),
                StreamEvent::Closed => "close".into(),
                StreamEvent::ServerError(t) => format!("error:{t}"),
                StreamEvent::Record(Err(e)) => format!("bad:{:?}", e.paging_token),
                StreamEvent::Record(Ok(_)) => "record".into(),
            })
            .collect();
        assert_eq!(
            summary,
            [
                "open",
                "bad:None",
                "close",
                "error:Unexpected stream error",
                "error:problem: timeout",
                "error:problem: not_found"
            ]
        );
    }

    #[test]
    fn gauge_counts_an_endless_line() {
        let mut g = EventSizeGauge::default();
        let chunk = vec![b'a'; 1000];
        for _ in 0..10 {
            g.feed(&chunk);
        }
        assert_eq!(g.feed(b""), 10_000);
    }
}
