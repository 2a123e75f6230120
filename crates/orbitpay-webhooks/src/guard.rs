//! SSRF guard: a webhook URL comes from a merchant's API call (a session's `webhook_url`), so it
//! must not reach the daemon's own network (loopback, private ranges, the cloud metadata address).
//!
//! The check is on resolved addresses, on every attempt, and the request connects to the address
//! that was checked (the client pins it with `resolve`), so a DNS answer that changes between the
//! check and the connect (DNS rebinding) cannot redirect it. Redirects are never followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::{Host, Url};

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
        "webhook host {host} resolves only to refused address {addr} (set webhooks.allow_private for development)"
    )]
    Refused { host: String, addr: IpAddr },
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Whether an address is one a webhook must not reach.
pub fn is_refused(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_refused(v4),
        IpAddr::V6(v6) => v6_refused(v6),
    }
}

fn v4_refused(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, with the 169.254.169.254 metadata address
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || a >= 240 // reserved
}

fn v6_refused(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return v4_refused(v4);
    }
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique-local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // deprecated site-local fec0::/10
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`) or
/// NAT64 (`64:ff9b::a.b.c.d`) address: each reaches that IPv4 host.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(tail);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    None
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
    addrs
        .into_iter()
        .find(|ip| allow_private || !is_refused(*ip))
        .map(|ip| SocketAddr::new(ip, port))
        .ok_or(GuardError::Refused {
            host: name,
            addr: first,
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

    fn refused(s: &str) -> bool {
        is_refused(s.parse().unwrap())
    }

    #[test]
    fn every_blocked_range_is_refused() {
        for ip in [
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "192.168.255.255",
            "169.254.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "239.255.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fdff:ffff::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:192.168.1.1",
            "::ffff:100.64.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::10.1.1.1",
        ] {
            assert!(refused(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.1.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "fbff::1",
            "fe7f::1",
        ] {
            assert!(!refused(ip), "{ip} must pass");
        }
    }

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
        let mapped = Url::parse("http://[::ffff:127.0.0.1]:8080/").unwrap();
        assert!(matches!(
            check(&mapped, false).await,
            Err(GuardError::Refused { .. })
        ));
        let public = Url::parse("https://8.8.8.8/").unwrap();
        assert_eq!(check(&public, false).await.unwrap().port(), 443);
        let ftp = Url::parse("ftp://example.com/").unwrap();
        assert!(matches!(
            check(&ftp, true).await,
            Err(GuardError::Scheme(_))
        ));
    }
}
