//! The webhook secret and the signatures never reach the logs. Its own test binary: it captures
//! logs with a thread-local subscriber, which another test's threads could race in a shared one.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_secret_never_reaches_the_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut n = 0;
    let rx = Receiver::start(move |_| {
        n += 1;
        (if n == 1 { 500 } else { 410 }, Duration::ZERO)
    })
    .await;
    let s = Setup::new(&rx.url).await;
    let mut conn = s.conn().await;
    event(&mut conn, None).await;
    let mut cfg = config();
    cfg.retry.max_attempts = 2;
    let d = s.dispatcher(cfg);
    drive(&d, || rx.received().len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    d.run_once().await.unwrap();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("will retry") && text.contains("410"),
        "{text}"
    );
    let key = s.secret.strip_prefix("whsec_").unwrap();
    assert!(!text.contains(key), "secret in logs: {text}");
    let signature = rx.received()[0].headers["webhook-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!text.contains(&signature[3..]), "signature in logs");
}
