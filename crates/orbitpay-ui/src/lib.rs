//! The operator page: what orbitpay knows, at a glance, in a browser.
//!
//! Server-rendered HTML (askama templates, checked at compile time, escaping by default),
//! read-only (every route is a GET and reads through the store's query functions), with no
//! JavaScript and no external resources: the one stylesheet is served from here, and every
//! answer carries `Content-Security-Policy: default-src 'self'`.
//!
//! The daemon mounts [`router`] on its admin socket under `/ui` (so the page has the socket's
//! permissions); `orbitpay ui` is the loopback proxy a browser reaches it through. Each page is
//! a module in `pages/`: a handler, one view struct and its template in `templates/`.
//! The daemon's live status (accounts, jobs) is not in the database: it comes through
//! [`Board`], which the daemon implements over its status board.

mod error;
mod format;
mod pages;
mod qr;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use orbitpay_store::DbPool;

pub use error::PageError;

/// One watched account as this instance sees it (from the daemon's status board).
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRow {
    pub account: String,
    /// `standby`, `starting`, `catching_up`, `streaming`, `backing_off`, `halted`, `stopped`.
    pub state: String,
    pub lag_seconds: Option<f64>,
    /// Why it retries, or what halted it.
    pub reason: Option<String>,
    pub catch_up_percent: Option<f64>,
    pub eta_seconds: Option<f64>,
}

/// What the overview shows of the watched accounts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountsView {
    pub total: usize,
    /// Accounts per state, the empty states left out.
    pub by_state: Vec<(String, usize)>,
    /// The rows listed: all of them, or those needing attention, most serious first.
    pub shown: Vec<AccountRow>,
    /// Accounts needing attention left out of `shown`.
    pub omitted: usize,
}

/// The last run of one periodic job in this instance.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub job: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub duration_seconds: f64,
    /// `ok`, `stopped` or `failed`.
    pub outcome: String,
    pub error: Option<String>,
    pub notes: Vec<String>,
}

/// The daemon's live, in-memory status, which the database does not hold.
pub trait Board: Send + Sync {
    /// The accounts in summary: every account when there are at most `cap`, else the counts
    /// by state and the first `cap` of those not simply following (a platform's 10,000
    /// accounts must not make a 10,000-row page).
    fn accounts(&self, cap: usize) -> AccountsView;
    fn jobs(&self) -> Vec<JobRow>;
}

/// What the pages read from.
pub struct UiState {
    pub pool: DbPool,
    pub board: Arc<dyn Board>,
    /// The network's passphrase, for the refunds' SEP-7 URIs.
    pub network_passphrase: String,
}

/// The policy every answer carries: nothing but this origin, so no script can run even if
/// escaping ever failed, and nothing is fetched from elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'";

/// The page's routes, relative to where it is mounted (`/ui`): `/`, `/sessions`,
/// `/sessions/{id}`, `/money`, `/refunds`, `/webhooks`, `/style.css`.
pub fn router(state: Arc<UiState>) -> Router {
    Router::new()
        .route("/", get(pages::overview::page))
        .route("/sessions", get(pages::sessions::list))
        .route("/sessions/{id}", get(pages::session::page))
        .route("/money", get(pages::money::page))
        .route("/refunds", get(pages::refunds::page))
        .route("/webhooks", get(pages::webhooks::page))
        .route("/style.css", get(stylesheet))
        .fallback(pages::not_found)
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(state)
}

const STYLE: &str = include_str!("../static/style.css");

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        STYLE,
    )
        .into_response()
}

async fn secure_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
