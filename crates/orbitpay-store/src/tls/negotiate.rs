//! PostgreSQL's TLS start: an SSLRequest on the plain socket, the server's one-byte answer,
//! then the rustls handshake; a failed handshake is named by its cause.

use std::io;

use rustls::pki_types::ServerName;
use rustls::{AlertDescription, CertificateError};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;
use tokio_util::either::Either;

use super::{TlsError, TlsOptions, client_config};

pub(crate) type Socket = Either<TcpStream, UnixStream>;
pub(crate) type TlsSocket = tokio_rustls::client::TlsStream<Socket>;

/// Length 8, then the request code 1234.5679.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

pub(crate) enum Offer {
    Accepted(Box<TlsSocket>),
    /// The server answered `N`: the socket is still good for a plain startup.
    Declined(Socket),
}

/// Asks for TLS and, when the server agrees, does the handshake for `host` (the name that
/// `verify-full` checks, and sends as SNI when it is not an address).
pub(crate) async fn start_tls(
    mut socket: Socket,
    options: &TlsOptions,
    host: &str,
) -> Result<Offer, TlsError> {
    let config = client_config(options)?;
    let name = ServerName::try_from(host.to_owned()).map_err(|e| {
        TlsError::Option(format!(
            "host {host:?} cannot be matched to a certificate: {e}"
        ))
    })?;
    let io = |e: io::Error| TlsError::Handshake(format!("asking the server for TLS: {e}"));
    socket.write_all(&SSL_REQUEST).await.map_err(io)?;
    // Exactly one byte, unbuffered: anything the server (or a man in the middle) sent after
    // it must reach the TLS layer, which rejects it, not the plain-text startup.
    let mut answer = [0u8; 1];
    socket.read_exact(&mut answer).await.map_err(io)?;
    match answer[0] {
        b'S' => TlsConnector::from(config)
            .connect(name, socket)
            .await
            .map(|tls| Offer::Accepted(Box::new(tls)))
            .map_err(|e| explain(&e, options, host)),
        b'N' => Ok(Offer::Declined(socket)),
        other => Err(TlsError::Handshake(format!(
            "unexpected answer {other:#04x} to the TLS request"
        ))),
    }
}

/// The cause of a handshake (or, with TLS 1.3, first read) that rustls failed.
pub(crate) fn explain(e: &io::Error, options: &TlsOptions, host: &str) -> TlsError {
    let Some(tls) = e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) else {
        return TlsError::Handshake(e.to_string());
    };
    explain_rustls(tls, options, host)
}

pub(crate) fn explain_rustls(tls: &rustls::Error, options: &TlsOptions, host: &str) -> TlsError {
    match tls {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            TlsError::UnknownAuthority {
                trusted: match &options.root_cert {
                    Some(path) => format!("sslrootcert {}", path.display()),
                    None => "the system's root store".into(),
                },
            }
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName) => {
            TlsError::HostName {
                host: host.to_owned(),
                presented: String::new(),
            }
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            presented,
            ..
        }) => TlsError::HostName {
            host: host.to_owned(),
            presented: format!(
                " (it names {})",
                presented
                    .iter()
                    .map(|n| bare(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => TlsError::Expired(tls.to_string()),
        rustls::Error::AlertReceived(
            alert @ (AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied),
        ) => TlsError::ClientCertificate(format!("alert {alert:?}")),
        other => TlsError::Handshake(other.to_string()),
    }
}

/// `localhost` out of rustls's `DnsName("localhost")` (and an address out of `IpAddress(..)`).
fn bare(name: &str) -> &str {
    let inner = name
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or(name);
    inner.trim_matches('"')
}
