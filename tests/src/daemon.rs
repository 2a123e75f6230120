//! Waiting for a daemon (spawned with `orbitpay_testkit::daemon::Daemon`) to serve: its admin
//! socket answers `/readyz` with 200.

use std::path::Path;
use std::time::{Duration, Instant};

use orbitpay_cli::Client;

pub async fn ready(socket: &Path) -> Client {
    ready_within(socket, Duration::from_secs(30)).await
}

pub async fn ready_within(socket: &Path, bound: Duration) -> Client {
    let deadline = Instant::now() + bound;
    loop {
        if let Ok(client) = Client::new(socket)
            && let Ok(r) = client.get("/readyz").await
            && r.status == 200
        {
            return client;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon on {} did not become ready within {bound:?}",
            socket.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
