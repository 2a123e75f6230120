//! The admin socket: HTTP/1.1 + JSON on a Unix domain socket (`curl --unix-socket`), API v1.
//!
//! - [`router`] builds the axum [`Router`](axum::Router) over an [`AdminState`];
//! - [`bind`] (or [`from_systemd`], socket activation) and [`AdminListener::serve`] put it on
//!   the socket with the per-connection limits (peer uid allow-list, header and body timeouts,
//!   bounded requests in progress and open connections), and remove a socket file they created
//!   on clean shutdown;
//! - the daemon supplies two seams: [`TxReporter`] (the matcher's client-reported-tx path) and
//!   [`IngestStatus`] (the followers' live status).
//!
//! The operator page (`orbitpay-ui`, HTML under `/ui`) is mounted by `ui`.
//!
//! Each resource is one module holding its request and response shapes and its handlers
//! ([`sessions`](self), `accounts`, `events`, `payments`, `webhooks`, `status`, `health`, `metrics`); what
//! they share is in `support`, and the router only routes. Idempotency (`Idempotency-Key`)
//! lives in one place, [`idempotency`], a middleware on the POST endpoints that create
//! something (a session, a reported transaction, a refund).

mod accounts;
pub mod events;
mod health;
pub mod idempotency;
mod metrics;
pub mod openapi;
mod payments;
mod refunds;
mod router;
mod server;
mod sessions;
mod state;
mod status;
mod support;
mod ui;
mod webhooks;

pub use router::router;
pub use server::{AdminListener, OPEN_PER_SLOT, ServeError, SocketOptions, bind, from_systemd};
pub use state::{
    AccountStatus, AdminState, CatchUpProgress, IngestStatus, JobRunView, LedgerPosition,
    NetworkStatus, ReportError, ReportOutcome, TxReporter,
};
pub use status::{ACCOUNT_STATES, AccountsSummary, NOT_FOLLOWING_MAX};
pub use support::body::MAX_BODY_BYTES;
pub use support::error::{ApiError, ErrorBody, ErrorDetail};
