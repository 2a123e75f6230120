//! SSRF guard: a webhook URL comes from a merchant's API call (a session's `webhook_url`), so it
//! must not reach the daemon's own network (loopback, private ranges, the cloud metadata address)
//! or any other special-purpose block ([`ranges`]).
//!
//! The check is on resolved addresses, on every attempt, and the request connects to the address
//! that was checked (the client pins it with `resolve`), so a DNS answer that changes between the
//! check and the connect (DNS rebinding) cannot redirect it. Redirects are never followed.

pub mod ranges;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use url::{Host, Url};

pub use ranges::{Block, refused_by};

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("webhook URL scheme must be http or https, not {0}")]
    Scheme(String),
    #[error("webhook URL has no host")]
    NoHost,
    #[error("cannot resolve webhook host {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("webhook host {host} resolves to no address")]
    NoAddress { host: String },
    #[error(
        "webhook host {host} resolves only to refused address {addr}, in {block} (set webhooks.allow_private for development)"
    )]
    Refused {
        host: String,
        addr: IpAddr,
        block: &'static Block,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Whether an address is one a webhook must not reach.
pub fn is_refused(ip: IpAddr) -> bool {
    refused_by(ip).is_some()
}

/// Resolves `url`'s host and returns the first address the guard accepts.
pub async fn check(url: &Url, allow_private: bool) -> Result<SocketAddr, GuardError> {
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(GuardError::Scheme(other.to_owned())),
    }
    let port = url.port_or_known_default().ok_or(GuardError::NoHost)?;
    let host = url.host().ok_or(GuardError::NoHost)?;
    let (name, addrs): (String, Vec<IpAddr>) = match host {
        Host::Ipv4(ip) => (ip.to_string(), vec![IpAddr::V4(ip)]),
        Host::Ipv6(ip) => (ip.to_string(), vec![IpAddr::V6(ip)]),
        Host::Domain(d) => {
            let found =
                tokio::net::lookup_host((d, port))
                    .await
                    .map_err(|source| GuardError::Resolve {
                        host: d.to_owned(),
                        source,
                    })?;
            (d.to_owned(), found.map(|a| a.ip()).collect())
        }
    };
    let first = *addrs
        .first()
        .ok_or_else(|| GuardError::NoAddress { host: name.clone() })?;
    if allow_private {
        return Ok(SocketAddr::new(first, port));
    }
    if let Some(ip) = addrs.iter().find(|ip| !is_refused(**ip)) {
        return Ok(SocketAddr::new(*ip, port));
    }
    Err(GuardError::Refused {
        host: name,
        addr: first,
        block: refused_by(first).expect("every address was refused"),
    })
}

/// A client for one attempt: it connects only to `addr` (checked by [`check`]) and never
/// follows a redirect.
pub fn client_for(
    url: &Url,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<reqwest::Client, GuardError> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .no_proxy();
    if let Some(Host::Domain(d)) = url.host() {
        builder = builder.resolve(d, addr);
    }
    Ok(builder.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn check_resolves_then_refuses_or_allows() {
        let url = Url::parse("http://localhost:9/hook").unwrap();
        assert!(matches!(
            check(&url, false).await,
            Err(GuardError::Refused { .. })
        ));
        let addr = check(&url, true).await.unwrap();
        assert!(addr.ip().is_loopback() && addr.port() == 9);

        let metadata = Url::parse("http://169.254.169.254/latest/meta-data").unwrap();
        assert!(matches!(
            check(&metadata, false).await,
            Err(GuardError::Refused { .. })
        ));
        for refused in [
            "http://[::ffff:127.0.0.1]:8080/",
            "http://198.18.0.1/",
            "http://[2002:a00:1::]/",
        ] {
            let url = Url::parse(refused).unwrap();
            assert!(
                matches!(check(&url, false).await, Err(GuardError::Refused { .. })),
                "{refused}"
            );
        }
        let public = Url::parse("https://8.8.8.8/").unwrap();
        assert_eq!(check(&public, false).await.unwrap().port(), 443);
        let ftp = Url::parse("ftp://example.com/").unwrap();
        assert!(matches!(
            check(&ftp, true).await,
            Err(GuardError::Scheme(_))
        ));
    }
}
