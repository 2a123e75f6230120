//! SSRF guard: a webhook URL comes from a merchant's API call (a session's `webhook_url`), so it
//! must not reach the daemon's own network (loopback, private ranges, the cloud metadata address)
//! or any other special-purpose block ([`ranges`]).
//!
//! The check is on resolved addresses, on every attempt, and the request connects to the address
//! that was checked: the attempt's client resolves every name to that address and nothing else,
//! so a DNS answer that changes between the check and the connect (DNS rebinding) cannot
//! redirect it. Redirects are never followed.
//!
//! The lookup counts against the attempt's deadline like the request does. A delivery's lease
//! outlives the request by a margin only; a resolver slower than that would let the lease lapse
//! while the attempt still runs, and another dispatcher would lease it again and POST it a
//! second time alongside.

pub mod ranges;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::time::Instant;
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
        source: io::Error,
    },
    #[error("resolving webhook host {host} took the whole request timeout")]
    ResolveTimeout { host: String },
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

impl GuardError {
    /// Whether another attempt may succeed without the URL changing: DNS can recover.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GuardError::Resolve { .. } | GuardError::ResolveTimeout { .. } | GuardError::Client(_)
        )
    }
}

/// Whether an address is one a webhook must not reach.
pub fn is_refused(ip: IpAddr) -> bool {
    refused_by(ip).is_some()
}

/// Looks a host name up: the system's resolver in the daemon, a test's own where DNS must
/// answer slowly or change its answer.
pub trait Resolve: Send + Sync {
    fn lookup<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<Vec<IpAddr>>>;
}

/// The system's resolver (getaddrinfo on a blocking thread). A lookup abandoned at the deadline
/// finishes on its thread, unobserved.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn lookup<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host, port))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// Resolves and checks webhook URLs.
#[derive(Clone)]
pub struct Guard {
    resolver: Arc<dyn Resolve>,
    /// Lets every address through: development and tests only.
    allow_private: bool,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

impl Guard {
    pub fn new(allow_private: bool) -> Guard {
        Guard::with_resolver(allow_private, Arc::new(SystemResolver))
    }

    pub fn with_resolver(allow_private: bool, resolver: Arc<dyn Resolve>) -> Guard {
        Guard {
            resolver,
            allow_private,
        }
    }

    /// Resolves `url`'s host by `deadline` and returns the first address the guard accepts.
    pub async fn check(&self, url: &Url, deadline: Instant) -> Result<SocketAddr, GuardError> {
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
                let found = tokio::time::timeout_at(deadline, self.resolver.lookup(d, port))
                    .await
                    .map_err(|_| GuardError::ResolveTimeout { host: d.to_owned() })?
                    .map_err(|source| GuardError::Resolve {
                        host: d.to_owned(),
                        source,
                    })?;
                (d.to_owned(), found)
            }
        };
        let first = *addrs
            .first()
            .ok_or_else(|| GuardError::NoAddress { host: name.clone() })?;
        if self.allow_private {
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
}

/// A client for one attempt: it connects only to `addr` (checked by [`Guard::check`]), never
/// follows a redirect, and gives up at `deadline`.
pub fn client_for(addr: SocketAddr, deadline: Instant) -> Result<reqwest::Client, GuardError> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(deadline.saturating_duration_since(Instant::now()))
        .no_proxy()
        .dns_resolver(Arc::new(Pinned(addr)))
        .build()?)
}

/// The client's only resolver: whatever name it is asked, the checked address. There is no
/// second lookup to rebind.
struct Pinned(SocketAddr);

impl reqwest::dns::Resolve for Pinned {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addr = self.0;
        Box::pin(async move { Ok(Box::new(std::iter::once(addr)) as reqwest::dns::Addrs) })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn check_resolves_then_refuses_or_allows() {
        let url = Url::parse("http://localhost:9/hook").unwrap();
        let err = Guard::new(false).check(&url, soon()).await.unwrap_err();
        assert!(matches!(err, GuardError::Refused { .. }), "{err}");
        assert!(err.to_string().contains("Loopback"), "{err}");
        let addr = Guard::new(true).check(&url, soon()).await.unwrap();
        assert!(addr.ip().is_loopback() && addr.port() == 9);

        for refused in [
            "http://169.254.169.254/latest/meta-data",
            "http://[::ffff:127.0.0.1]:8080/",
            "http://198.18.0.1/",
            "http://[2002:a00:1::]/",
        ] {
            let url = Url::parse(refused).unwrap();
            assert!(
                matches!(
                    Guard::new(false).check(&url, soon()).await,
                    Err(GuardError::Refused { .. })
                ),
                "{refused}"
            );
        }
        let public = Url::parse("https://8.8.8.8/").unwrap();
        let addr = Guard::new(false).check(&public, soon()).await.unwrap();
        assert_eq!(addr.port(), 443);
        let ftp = Url::parse("ftp://example.com/").unwrap();
        assert!(matches!(
            Guard::new(true).check(&ftp, soon()).await,
            Err(GuardError::Scheme(_))
        ));
    }
}
