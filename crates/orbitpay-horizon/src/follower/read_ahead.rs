//! The stream, read ahead of settlement on a task of its own.
//!
//! hyper hands a response body over one chunk per poll and reads the socket only when asked.
//! A follower that polls the stream only between settlements therefore finds at most one
//! event ready, however long the backlog behind it: live batches stayed one record each, and a
//! busy account fell behind its payments (the bench's live phase: about 190 settled per second
//! against 500 offered). Read on a task of its own, the stream keeps being parsed while a batch
//! settles, and the next batch takes everything that arrived meanwhile.
//!
//! Bounded: a slow sink stops the reading (and Horizon's stream backs up), never the memory.
//! Dropping it aborts the reading; whatever was read and not handled is read again from the
//! cursor by the next connection.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt as _};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

pub(super) struct ReadAhead<T> {
    rx: mpsc::Receiver<T>,
    reader: JoinHandle<()>,
}

impl<T: Send + 'static> ReadAhead<T> {
    /// Starts reading `stream`, holding up to `capacity` items not yet taken.
    pub(super) fn spawn<S>(mut stream: S, capacity: usize) -> ReadAhead<T>
    where
        S: Stream<Item = T> + Send + Unpin + 'static,
    {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let reader = tokio::spawn(
            async move {
                while let Some(item) = stream.next().await {
                    if tx.send(item).await.is_err() {
                        break;
                    }
                }
            }
            .in_current_span(),
        );
        ReadAhead { rx, reader }
    }
}

impl<T> Stream for ReadAhead<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.poll_recv(cx)
    }
}

impl<T> Drop for ReadAhead<T> {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::FutureExt as _;

    use super::*;

    #[tokio::test]
    async fn items_that_arrive_while_the_taker_is_busy_are_ready_at_once() {
        // A source that yields each item only after a pause, as a socket does.
        let source = futures::stream::iter(0..5)
            .then(|i| async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                i
            })
            .boxed();
        let mut ahead = ReadAhead::spawn(source, 16);
        assert_eq!(ahead.next().await, Some(0));
        // The taker is busy (a settlement); the reader is not.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ready: Vec<_> = std::iter::from_fn(|| ahead.next().now_or_never().flatten()).collect();
        assert_eq!(ready, vec![1, 2, 3, 4]);
        assert_eq!(ahead.next().await, None);
    }

    #[tokio::test]
    async fn a_full_buffer_holds_the_reader_back() {
        let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = pulled.clone();
        let source = futures::stream::iter(0..1000)
            .inspect(move |_| {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
            .boxed();
        let mut ahead = ReadAhead::spawn(source, 8);
        tokio::time::sleep(Duration::from_millis(50)).await;
        // 8 buffered, plus at most the one the reader holds while it waits for room.
        assert!(pulled.load(std::sync::atomic::Ordering::SeqCst) <= 9);
        assert_eq!(ahead.next().await, Some(0));
    }

    #[tokio::test]
    async fn dropping_it_stops_the_reading() {
        let (tx, rx) = mpsc::channel::<u32>(1);
        let source =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
                .boxed();
        let ahead = ReadAhead::spawn(source, 4);
        drop(ahead);
        // The reader (and with it the source) is gone: nobody receives any more.
        tokio::time::timeout(Duration::from_secs(5), tx.closed())
            .await
            .expect("the reader task was not aborted");
    }
}
