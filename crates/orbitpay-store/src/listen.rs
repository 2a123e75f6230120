//! A connection that LISTENs, for waking on NOTIFY (the webhook dispatcher's wake).
//!
//! Opened like every other connection ([`crate::connect`]: multi-host, TLS, SQLSTATE tags), but
//! kept as a tokio-postgres client: diesel's connection built from a client drops the
//! notifications, and diesel's own `establish` has neither TLS nor the tags.

use tokio::sync::mpsc;

use crate::StoreError;

/// A notification received on a channel this listener LISTENs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub channel: String,
    pub payload: String,
}

pub struct Listener {
    /// Keeps the connection open; dropping it ends the connection.
    _client: tokio_postgres::Client,
    notifications: mpsc::UnboundedReceiver<tokio_postgres::Notification>,
}

impl Listener {
    /// Connects to `database_url` and LISTENs on `channel`.
    pub async fn open(database_url: &str, channel: &str) -> Result<Listener, StoreError> {
        let (client, notifications) = crate::connect::open_client(database_url).await?;
        client
            .batch_execute(&format!("LISTEN {}", quote_ident(channel)))
            .await
            .map_err(|e| StoreError::Listen(e.to_string()))?;
        Ok(Listener {
            _client: client,
            notifications,
        })
    }

    /// The next notification; `None` once the connection is lost (open a new listener).
    /// Cancel-safe: nothing is lost when a `select!` drops the future.
    pub async fn next(&mut self) -> Option<Notification> {
        self.notifications.recv().await.map(|n| Notification {
            channel: n.channel().to_owned(),
            payload: n.payload().to_owned(),
        })
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
