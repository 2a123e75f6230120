//! TLS to PostgreSQL, with libpq's options: `sslmode` (`disable`, `prefer` (the default),
//! `require`, `verify-ca`, `verify-full`), `sslrootcert`, `sslcert` and `sslkey`, read from
//! the connection string as libpq reads them.
//!
//! tokio-postgres knows only `disable`/`prefer`/`require` and rejects the other keys, and its
//! TLS hook wraps the socket below our SQLSTATE tap ([`crate::sqlstate`]), which must read the
//! server's messages after decryption. So the store negotiates TLS itself ([`negotiate`]):
//! the SSLRequest, then a rustls handshake, then the tap on the decrypted stream, and hands
//! tokio-postgres a stream it treats as plain. The `ssl*` keys are taken out of the string
//! before tokio-postgres parses it ([`params`]).
//!
//! As in libpq: `prefer` falls back to plain text when the server has no TLS or the handshake
//! fails; `require` with a `sslrootcert` checks the chain as `verify-ca` does; Unix-domain
//! sockets never use TLS. Unlike libpq, a missing `sslrootcert` means the operating system's
//! trust store (libpq reads `~/.postgresql/root.crt`), and channel binding is not offered (the
//! server's certificate is what `verify-full` authenticates).

mod client;
pub(crate) mod negotiate;
mod params;

use std::fmt;
use std::path::PathBuf;

pub(crate) use client::client_config;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain text only.
    Disable,
    /// TLS when the server offers it, unverified; plain text otherwise.
    #[default]
    Prefer,
    /// TLS or nothing; the certificate is not checked (unless `sslrootcert` is given).
    Require,
    /// TLS, with a certificate chain to a trusted CA.
    VerifyCa,
    /// TLS, with a certificate chain to a trusted CA that names the host.
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(value: &str) -> Result<SslMode, TlsError> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => {
                return Err(TlsError::Option(
                    "sslmode=allow is not supported; use prefer or a stricter mode".into(),
                ));
            }
            other => {
                return Err(TlsError::Option(format!(
                    "sslmode={other:?}: expected disable, prefer, require, verify-ca or verify-full"
                )));
            }
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How far the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verification {
    None,
    Chain,
    ChainAndName,
}

/// The TLS settings of one connection string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsOptions {
    /// The mode asked for; [`SslMode::Prefer`] when the string names none.
    pub mode: SslMode,
    /// `sslrootcert`: a PEM file of trusted CA certificates. `None` (or `system`): the
    /// operating system's trust store.
    pub root_cert: Option<PathBuf>,
    /// `sslcert` and `sslkey`: a client certificate (PEM, with any intermediates) and its key.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl TlsOptions {
    /// The options of a connection string (URL or `key=value` form).
    pub fn from_database_url(url: &str) -> Result<TlsOptions, TlsError> {
        Ok(params::split(url)?.1)
    }

    /// Reads the files the options name and builds the TLS configuration, so a missing or
    /// unreadable certificate is found at start rather than at the first connection.
    pub fn check(&self) -> Result<(), TlsError> {
        if self.mode != SslMode::Disable {
            client_config(self)?;
        }
        Ok(())
    }

    pub(crate) fn verification(&self) -> Verification {
        match self.mode {
            SslMode::VerifyFull => Verification::ChainAndName,
            SslMode::VerifyCa => Verification::Chain,
            // libpq: "if a root CA file exists, require behaves like verify-ca".
            SslMode::Require if self.root_cert.is_some() => Verification::Chain,
            _ => Verification::None,
        }
    }

    fn from_params(params: Vec<(String, String)>) -> Result<TlsOptions, TlsError> {
        let mut options = TlsOptions::default();
        let (mut cert, mut key) = (None, None);
        for (key_name, value) in params {
            match key_name.as_str() {
                "sslmode" => options.mode = SslMode::parse(&value)?,
                "sslrootcert" if value == "system" => options.root_cert = None,
                "sslrootcert" => options.root_cert = Some(PathBuf::from(value)),
                "sslcert" => cert = Some(PathBuf::from(value)),
                "sslkey" => key = Some(PathBuf::from(value)),
                "sslnegotiation" if value == "postgres" => {}
                "sslnegotiation" => {
                    return Err(TlsError::Option(format!(
                        "sslnegotiation={value:?} is not supported; only postgres (the default)"
                    )));
                }
                other => unreachable!("params::split keeps only TLS keys, got {other}"),
            }
        }
        options.client_cert = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(TlsError::Option(
                    "sslcert and sslkey go together: name both, or neither".into(),
                ));
            }
        };
        Ok(options)
    }
}

/// What `check-config` and the start-up log show: the effective mode and what it trusts. No
/// secret is in it (paths only, never a key).
impl fmt::Display for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sslmode={}", self.mode)?;
        let trusted = match &self.root_cert {
            Some(path) => format!("sslrootcert {}", path.display()),
            None => "the system's root store".to_owned(),
        };
        match self.verification() {
            Verification::None if self.mode == SslMode::Disable => f.write_str(" (plain text)")?,
            Verification::None if self.mode == SslMode::Prefer => f.write_str(
                " (TLS when the server offers it, plain text otherwise; certificate not checked)",
            )?,
            Verification::None => f.write_str(" (TLS; certificate not checked)")?,
            Verification::Chain => {
                write!(f, " (TLS; certificate chain checked against {trusted})")?
            }
            Verification::ChainAndName => write!(
                f,
                " (TLS; certificate chain checked against {trusted}, and the host name)"
            )?,
        }
        if let Some((cert, _)) = &self.client_cert {
            write!(f, "; client certificate {}", cert.display())?;
        }
        Ok(())
    }
}

/// A connection string's TLS options that cannot be used, or a TLS connection that failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{0}")]
    Option(String),
    #[error("{what} {path}: {reason}")]
    File {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "the system's root store has no usable certificate ({0}); name a CA file with sslrootcert"
    )]
    NoSystemRoots(String),
    #[error("the server does not support TLS (sslmode={0})")]
    NotOffered(SslMode),
    #[error("the server's certificate is signed by an unknown authority (trusted: {trusted})")]
    UnknownAuthority { trusted: String },
    #[error("host name mismatch: the server's certificate is not valid for {host}{presented}")]
    HostName { host: String, presented: String },
    #[error("the server's certificate is not valid now ({0})")]
    Expired(String),
    #[error("the server refused our client certificate ({0})")]
    ClientCertificate(String),
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
}

pub(crate) use params::split;
