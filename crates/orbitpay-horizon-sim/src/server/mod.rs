//! The HTTP side: axum routes, Horizon's parameter validation, REST pages, SSE streams and the
//! byte-level delivery that faults tamper with.

mod delivery;
mod handlers;
mod limit;
mod request;
mod stream;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::HorizonSim;
use handlers::{
    account, account_payments, fallback, ledger, network_payments, operation_effects, root,
    transaction, transaction_payments,
};
pub(crate) use request::parse_query;

#[derive(Clone)]
struct AppState {
    sim: HorizonSim,
    shutdown: watch::Receiver<bool>,
}

pub(crate) fn router(sim: HorizonSim, shutdown: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/payments", get(network_payments))
        .route("/accounts/{account_id}", get(account))
        .route("/accounts/{account_id}/payments", get(account_payments))
        .route("/transactions/{tx_id}", get(transaction))
        .route("/transactions/{tx_id}/payments", get(transaction_payments))
        .route("/operations/{op_id}/effects", get(operation_effects))
        .route("/ledgers/{sequence}", get(ledger))
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(
            sim.clone(),
            limit::rate_limit,
        ))
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
