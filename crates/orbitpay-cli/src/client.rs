//! A small HTTP client for the admin socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

/// The host part of request URLs; the socket decides where they go.
const BASE: &str = "http://localhost";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the admin socket {path}: {source}")]
    Connect {
        path: PathBuf,
        source: reqwest::Error,
    },
    #[error("invalid request: {0}")]
    Request(String),
}

/// One answer: status, headers and the exact body bytes.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl ApiResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The `error.code` of an error answer.
    pub fn error_code(&self) -> Option<String> {
        self.json()?
            .get("error")?
            .get("code")?
            .as_str()
            .map(str::to_owned)
    }

    pub fn error_message(&self) -> Option<String> {
        self.json()?
            .get("error")?
            .get("message")?
            .as_str()
            .map(str::to_owned)
    }
}

/// Talks HTTP/1.1 to the daemon over its Unix socket.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Result<Client, ClientError> {
        let socket = socket.into();
        let http = reqwest::Client::builder()
            .unix_socket(socket.as_path())
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ClientError::Request(e.to_string()))?;
        Ok(Client { http, socket })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub async fn get(&self, path_and_query: &str) -> Result<ApiResponse, ClientError> {
        self.send(reqwest::Method::GET, path_and_query, &[], None)
            .await
    }

    pub async fn post_json(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Result<ApiResponse, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Request(e.to_string()))?;
        self.send(reqwest::Method::POST, path, headers, Some(bytes))
            .await
    }

    /// Any request, with a raw body (tests use it for malformed bodies).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<ApiResponse, ClientError> {
        let mut request = self.http.request(method, format!("{BASE}{path_and_query}"));
        for (name, value) in headers {
            let value = HeaderValue::from_str(value)
                .map_err(|e| ClientError::Request(format!("header {name}: {e}")))?;
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|source| ClientError::Connect {
                path: self.socket.clone(),
                source,
            })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|source| ClientError::Connect {
                path: self.socket.clone(),
                source,
            })?
            .to_vec();
        Ok(ApiResponse {
            status,
            headers,
            body,
        })
    }
}
