//! A page that could not be drawn, as a small HTML answer. The cause goes to the log, never
//! to the page.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("database: {0}")]
    Store(#[from] orbitpay_store::StoreError),
    #[error("rendering: {0}")]
    Render(#[from] askama::Error),
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match &self {
            PageError::Store(e)
                if matches!(e.class(), orbitpay_store::ErrorClass::Transient(_)) =>
            {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        tracing::error!(error = %self, "operator page failed");
        let text = if status == StatusCode::SERVICE_UNAVAILABLE {
            "The database is not answering; reload in a moment."
        } else {
            "This page could not be drawn; the daemon's log says why."
        };
        (
            status,
            Html(format!(
                "<!doctype html><title>orbitpay</title><p>{text}</p><p><a href=\"/ui/\">Overview</a></p>"
            )),
        )
            .into_response()
    }
}

/// A pooled connection, its failure a [`PageError`].
pub(crate) async fn conn(
    state: &crate::UiState,
) -> Result<orbitpay_store::PooledConnection, PageError> {
    state
        .pool
        .get()
        .await
        .map_err(|e| PageError::Store(orbitpay_store::StoreError::from(e)))
}
