//! One module per page: its handler, its view struct and (in `templates/`) its template.

mod cursor;
pub mod money;
pub mod overview;
pub mod refunds;
pub mod session;
pub mod sessions;
pub mod webhooks;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::PageError;

/// Rows per list page.
pub(crate) const PAGE: i64 = 50;

/// A rendered page as a 200 HTML answer.
pub(crate) fn html(page: &impl Template) -> Result<Response, PageError> {
    Ok(Html(page.render()?).into_response())
}

/// The footer's "shown at": the instant this page was drawn.
pub(crate) fn now() -> String {
    crate::format::time(chrono::Utc::now())
}

#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFound {
    title: &'static str,
    now: String,
    message: String,
}

/// A 404 page that still carries the navigation.
pub(crate) fn not_found_page(message: impl Into<String>) -> Response {
    let page = NotFound {
        title: "Not found",
        now: now(),
        message: message.into(),
    };
    match page.render() {
        Ok(body) => (StatusCode::NOT_FOUND, Html(body)).into_response(),
        Err(e) => PageError::from(e).into_response(),
    }
}

pub(crate) async fn not_found() -> Response {
    not_found_page("There is no such page.")
}
