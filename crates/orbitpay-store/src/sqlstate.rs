//! Carries PostgreSQL's SQLSTATE through diesel, which drops it.
//!
//! diesel-async 0.9 turns a `tokio_postgres::Error` into diesel's `DatabaseErrorInformation`,
//! whose trait has no code accessor and whose concrete type is private: past that point only
//! the message survives. So the code is put where it survives, at the one place we own the
//! bytes: every connection's socket goes through [`Tagging`], which rewrites each
//! `ErrorResponse` so that its message starts with `[CODE] ` (taken from the response's own
//! `C` field). [`code`] reads that tag back. No server text is ever interpreted, so a
//! translated `lc_messages` changes nothing.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use diesel::result::DatabaseErrorInformation;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The SQLSTATE our connections put in front of a server error's message, if any.
///
/// `None` for errors that did not come from the server (a lost socket) or from a connection
/// not opened by [`crate::establish`].
pub fn code(info: &dyn DatabaseErrorInformation) -> Option<&str> {
    let m = info.message().as_bytes();
    let tagged = m.len() >= 8
        && m[0] == b'['
        && m[6] == b']'
        && m[7] == b' '
        && m[1..6]
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
    // Checked ASCII above, so the slice is on char boundaries.
    tagged.then(|| &info.message()[1..6])
}

/// A stream from the server that tags every `ErrorResponse` with its SQLSTATE; writes pass
/// through untouched.
///
/// Backend messages are a type byte, a big-endian length (counting itself) and a body. All
/// but `E` are forwarded as they arrive; an `E` is held until complete, then re-framed.
pub(crate) struct Tagging<S> {
    inner: S,
    /// Bytes ready for the reader, from `ready_from` on.
    ready: Vec<u8>,
    ready_from: usize,
    state: State,
}

enum State {
    /// Collecting a message's five header bytes.
    Header { bytes: [u8; 5], have: usize },
    /// Forwarding the rest of a message that is not an error.
    Forward { left: usize },
    /// Holding an error's body until it is complete.
    Error { body: Vec<u8>, left: usize },
}

const HEADER: State = State::Header {
    bytes: [0; 5],
    have: 0,
};

impl<S> Tagging<S> {
    pub(crate) fn new(inner: S) -> Self {
        Tagging {
            inner,
            ready: Vec::new(),
            ready_from: 0,
            state: HEADER,
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match &mut self.state {
                State::Header { bytes, have } => {
                    let take = (5 - *have).min(data.len());
                    bytes[*have..*have + take].copy_from_slice(&data[..take]);
                    *have += take;
                    data = &data[take..];
                    if *have == 5 {
                        let header = *bytes;
                        self.start(header);
                    }
                }
                State::Forward { left } => {
                    let take = (*left).min(data.len());
                    self.ready.extend_from_slice(&data[..take]);
                    *left -= take;
                    data = &data[take..];
                    if *left == 0 {
                        self.state = HEADER;
                    }
                }
                State::Error { body, left } => {
                    let take = (*left).min(data.len());
                    body.extend_from_slice(&data[..take]);
                    *left -= take;
                    data = &data[take..];
                    if *left == 0 {
                        let body = std::mem::take(body);
                        self.emit_error(&body);
                    }
                }
            }
        }
    }

    fn start(&mut self, header: [u8; 5]) {
        let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        // A length under 4 is a broken stream: pass it on for tokio-postgres to reject.
        let body = usize::try_from(len).unwrap_or(0).saturating_sub(4);
        if header[0] == b'E' && len >= 4 {
            self.state = State::Error {
                body: Vec::with_capacity(body),
                left: body,
            };
            if body == 0 {
                self.emit_error(&[]);
            }
        } else {
            self.ready.extend_from_slice(&header);
            self.state = if body == 0 {
                HEADER
            } else {
                State::Forward { left: body }
            };
        }
    }

    fn emit_error(&mut self, body: &[u8]) {
        let tagged = tag(body);
        let body = tagged.as_deref().unwrap_or(body);
        // The server's own length fitted an i32; ours is 8 bytes longer at most.
        let len = i32::try_from(body.len() + 4).unwrap_or(i32::MAX);
        self.ready.push(b'E');
        self.ready.extend_from_slice(&len.to_be_bytes());
        self.ready.extend_from_slice(body);
        self.state = HEADER;
    }
}

/// The error body with `[CODE] ` in front of its message; `None` (left as is) when the body
/// is not the well-formed field list it should be.
fn tag(body: &[u8]) -> Option<Vec<u8>> {
    let mut fields = Vec::new();
    let mut rest = body;
    loop {
        let (&kind, after) = rest.split_first()?;
        if kind == 0 {
            break;
        }
        let end = after.iter().position(|&b| b == 0)?;
        fields.push((kind, &after[..end]));
        rest = &after[end + 1..];
    }
    let code = fields.iter().find(|(k, _)| *k == b'C')?.1;
    if code.len() != 5 || !code.iter().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() + 8);
    for (kind, value) in fields {
        out.push(kind);
        if kind == b'M' {
            out.push(b'[');
            out.extend_from_slice(&code.to_ascii_uppercase());
            out.extend_from_slice(b"] ");
        }
        out.extend_from_slice(value);
        out.push(0);
    }
    out.push(0);
    Some(out)
}

impl<S: AsyncRead + Unpin> AsyncRead for Tagging<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.ready_from < this.ready.len() {
                let n = (this.ready.len() - this.ready_from).min(buf.remaining());
                buf.put_slice(&this.ready[this.ready_from..this.ready_from + n]);
                this.ready_from += n;
                if this.ready_from == this.ready.len() {
                    this.ready.clear();
                    this.ready_from = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 8192];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                // End of stream; a half-received message is lost with the connection.
                return Poll::Ready(Ok(()));
            }
            this.feed(read.filled());
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tagging<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&i32::try_from(body.len() + 4).unwrap().to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    fn error_body(code: &str, msg: &str) -> Vec<u8> {
        let mut b = Vec::new();
        for (k, v) in [(b'S', "ERROR"), (b'C', code), (b'M', msg)] {
            b.push(k);
            b.extend_from_slice(v.as_bytes());
            b.push(0);
        }
        b.push(0);
        b
    }

    /// Feeds `input` through the tap in chunks of `step` bytes.
    async fn through(input: &[u8], step: usize) -> Vec<u8> {
        let (mut tx, rx) = tokio::io::duplex(64);
        let input = input.to_vec();
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for chunk in input.chunks(step) {
                tx.write_all(chunk).await.unwrap();
            }
        });
        let mut out = Vec::new();
        Tagging::new(rx).read_to_end(&mut out).await.unwrap();
        writer.await.unwrap();
        out
    }

    #[tokio::test]
    async fn errors_are_tagged_and_everything_else_is_untouched_at_any_split() {
        let data_row = message(b'D', &[7u8; 300]);
        let ready = message(b'Z', b"I");
        let mut input = data_row.clone();
        input.extend(message(b'E', &error_body("40P01", "Verklemmung entdeckt")));
        input.extend(&ready);
        let mut expected = data_row;
        expected.extend(message(
            b'E',
            &error_body("40P01", "[40P01] Verklemmung entdeckt"),
        ));
        expected.extend(&ready);
        for step in [1, 2, 3, 5, 7, 64, 10_000] {
            assert_eq!(through(&input, step).await, expected, "step {step}");
        }
    }

    #[tokio::test]
    async fn a_malformed_error_passes_unchanged() {
        let input = message(b'E', b"Mno terminator");
        assert_eq!(through(&input, 3).await, input);
    }

    #[test]
    fn the_tag_is_read_back_and_nothing_else_is() {
        assert_eq!(code(&"[57014] canceling".to_owned()), Some("57014"));
        assert_eq!(code(&"[5701] x".to_owned()), None);
        assert_eq!(code(&"deadlock detected".to_owned()), None);
        assert_eq!(code(&"[57014]x".to_owned()), None);
    }
}
