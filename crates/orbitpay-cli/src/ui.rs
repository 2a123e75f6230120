//! `orbitpay ui --listen 127.0.0.1:PORT`: the operator page in a browser.
//!
//! The page lives on the admin socket (`/ui/`), which a browser cannot reach. This is a
//! loopback HTTP proxy to it, run as the operator's own user, so it can read exactly what the
//! operator's user can. Anyone else on the host can reach a loopback port, so the proxy admits
//! only the browser that opens the URL it prints: that URL holds a one-time random token; the
//! first request bearing it gets an `HttpOnly; SameSite=Strict` cookie holding a second random
//! secret and a redirect to the same page without the token (so the token is gone from the
//! address bar and history). Every later request needs the cookie; anything else is 403.
//! Only `GET` and `HEAD` of `/ui/...` go through: the page is read-only, and the rest of the
//! admin API stays off the browser's reach.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The cookie the proxy sets.
pub const COOKIE: &str = "orbitpay_ui";

#[derive(Debug, Clone, clap::Args)]
pub struct UiArgs {
    /// Where to listen: a loopback address (127.0.0.1:PORT or [::1]:PORT; port 0 picks one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8089")]
    pub listen: SocketAddr,
}

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("{0} is not a loopback address: the page is served to this host only")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Client(#[from] crate::ClientError),
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

/// A bound proxy: its address and the URL (with the token) to open.
pub struct UiProxy {
    listener: tokio::net::TcpListener,
    state: Arc<Proxy>,
    url: String,
}

struct Proxy {
    client: reqwest::Client,
    /// The one-time token; `None` once used.
    token: Mutex<Option<String>>,
    /// The cookie's secret.
    session: String,
}

impl UiProxy {
    /// Binds `addr` (refusing anything but loopback) for the admin socket `socket`.
    pub async fn bind(addr: SocketAddr, socket: PathBuf) -> Result<UiProxy, UiError> {
        if !addr.ip().is_loopback() {
            return Err(UiError::NotLoopback(addr));
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| UiError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| UiError::Bind { addr, source })?;
        let client = reqwest::Client::builder()
            .unix_socket(socket.as_path())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| crate::ClientError::Request(e.to_string()))?;
        let token = secret();
        Ok(UiProxy {
            listener,
            url: format!("http://{local}/ui/?token={token}"),
            state: Arc::new(Proxy {
                client,
                token: Mutex::new(Some(token)),
                session: secret(),
            }),
        })
    }

    /// The URL to open: it carries the one-time token.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), UiError> {
        let app = axum::Router::new().fallback(forward).with_state(self.state);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(UiError::Serve)
    }
}

/// 32 random bytes as hex.
fn secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal without a timing signal on where they first differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn has_session(request: &Request, session: &str) -> bool {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .any(|(k, v)| k == COOKIE && same(v, session))
}

/// The request's `token` parameter and its query without it.
fn split_token(query: Option<&str>) -> (Option<String>, String) {
    let mut token = None;
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if k == "token" {
            token = Some(v.into_owned());
        } else {
            rest.append_pair(&k, &v);
        }
    }
    (token, rest.finish())
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "403: open the URL `orbitpay ui` printed (its token works once), or run it again.\n",
    )
        .into_response()
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let (token, rest) = split_token(request.uri().query());
    if let Some(token) = token {
        let mut slot = proxy.token.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_deref().is_some_and(|t| same(t, &token)) {
            *slot = None;
            let location = if rest.is_empty() {
                path
            } else {
                format!("{path}?{rest}")
            };
            let cookie = format!(
                "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
                proxy.session
            );
            let mut response = StatusCode::SEE_OTHER.into_response();
            let h = response.headers_mut();
            if let (Ok(l), Ok(c)) = (
                HeaderValue::from_str(&location),
                HeaderValue::from_str(&cookie),
            ) {
                h.insert(header::LOCATION, l);
                h.insert(header::SET_COOKIE, c);
            }
            return response;
        }
        return forbidden();
    }
    if !has_session(&request, &proxy.session) {
        return forbidden();
    }
    if path == "/" || path == "/ui" {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui/")]).into_response();
    }
    if !path.starts_with("/ui/") {
        return (
            StatusCode::NOT_FOUND,
            "404: only the operator page (/ui/) is here\n",
        )
            .into_response();
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "405: the operator page is read-only\n",
        )
            .into_response();
    }
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or(path.clone(), |p| p.as_str().to_owned());
    let upstream = proxy
        .client
        .request(
            request.method().clone(),
            format!("http://localhost{path_and_query}"),
        )
        .send()
        .await;
    match upstream {
        Ok(r) => {
            let status = r.status();
            let headers = r.headers().clone();
            let body = r.bytes().await.unwrap_or_default();
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            for (k, v) in &headers {
                if k != header::TRANSFER_ENCODING && k != header::CONNECTION {
                    response.headers_mut().append(k, v.clone());
                }
            }
            response
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            format!("502: the daemon's admin socket does not answer: {e}\n"),
        )
            .into_response(),
    }
}

/// `orbitpay ui`: binds, prints the URL, serves until Ctrl-C.
pub async fn run(
    args: &UiArgs,
    socket: &std::path::Path,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> i32 {
    let proxy = match UiProxy::bind(args.listen, socket.to_owned()).await {
        Ok(p) => p,
        Err(e @ UiError::NotLoopback(_)) => {
            let _ = writeln!(err, "error: USAGE: {e}");
            return crate::exit::USAGE;
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return crate::exit::UNREACHABLE;
        }
    };
    let _ = writeln!(
        out,
        "Operator page for {}: open\n  {}\n(the link works once; Ctrl-C stops the proxy)",
        socket.display(),
        proxy.url()
    );
    let _ = out.flush();
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match proxy.serve(stop).await {
        Ok(()) => crate::exit::OK,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            crate::exit::API_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_non_loopback_address_is_refused() {
        let addr: SocketAddr = "0.0.0.0:0".parse().unwrap();
        assert!(matches!(
            UiProxy::bind(addr, "/nonexistent".into()).await,
            Err(UiError::NotLoopback(_))
        ));
        let lan: SocketAddr = "192.168.1.10:8089".parse().unwrap();
        assert!(matches!(
            UiProxy::bind(lan, "/nonexistent".into()).await,
            Err(UiError::NotLoopback(_))
        ));
    }

    #[tokio::test]
    async fn the_token_works_once_and_then_only_its_cookie_does() {
        let proxy = UiProxy::bind("127.0.0.1:0".parse().unwrap(), "/nonexistent".into())
            .await
            .unwrap();
        let url = proxy.url().to_owned();
        tokio::spawn(proxy.serve(std::future::pending()));
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();

        let first = browser.get(&url).send().await.unwrap();
        assert_eq!(first.status(), StatusCode::SEE_OTHER);
        assert_eq!(first.headers()[header::LOCATION], "/ui/");
        let cookie = first.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();

        let again = browser.get(&url).send().await.unwrap();
        assert_eq!(
            again.status(),
            StatusCode::FORBIDDEN,
            "the token used twice"
        );
        let with_both = browser
            .get(&url)
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(
            with_both.status(),
            StatusCode::FORBIDDEN,
            "a spent token is refused even beside the cookie"
        );
        let base = url.split("/ui/").next().unwrap();
        let admitted = browser
            .get(format!("{base}/ui/"))
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(
            admitted.status(),
            StatusCode::BAD_GATEWAY,
            "the cookie is let through, to a socket nobody serves"
        );
    }

    #[test]
    fn the_token_is_taken_out_of_the_query() {
        assert_eq!(
            split_token(Some("token=abc&q=paid")),
            (Some("abc".to_owned()), "q=paid".to_owned())
        );
        assert_eq!(split_token(None), (None, String::new()));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
