//! Opens a connection through tokio-postgres on a socket we own, so that every server error
//! passes [`Tagging`] (see [`crate::sqlstate`]) before diesel sees it.
//!
//! `tokio_postgres::Config::connect` owns its socket type and `try_from_client_and_connection`
//! only accepts that type, so the socket is opened here: the URL's hosts in order (TCP or Unix
//! directory), its ports, `hostaddr`, `connect_timeout`, keepalives, `tcp_user_timeout` and
//! `target_session_attrs`, as tokio-postgres reads them, and TLS as libpq's `sslmode` asks
//! (see [`crate::tls`]). The tap sits on the decrypted stream, above TLS: it reads the
//! server's messages. The connection task is driven here too, passing on the notifications a
//! LISTEN receives ([`crate::listen`]); diesel gets the client (`try_from`).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use diesel::ConnectionError;
use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncPgConnection;
use socket2::{SockRef, TcpKeepalive};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::mpsc;
use tokio_postgres::config::{Host, TargetSessionAttrs};
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls, Notification, SimpleQueryMessage};
use tokio_util::either::Either;

use crate::sqlstate::Tagging;
use crate::tls::negotiate::{Offer, Socket, TlsSocket, start_tls};
use crate::tls::{SslMode, TlsError, TlsOptions};

type Stream = Tagging<Either<Socket, Box<TlsSocket>>>;

/// A connection whose server errors carry their SQLSTATE tag.
pub(crate) async fn connect(database_url: &str) -> Result<AsyncPgConnection, ConnectionError> {
    let (client, _notifications) = open_client(database_url).await?;
    AsyncPgConnection::try_from(client).await
}

/// A client whose connection runs on a task of its own, and the notifications it receives
/// (after a LISTEN; the channel closes with the connection).
pub(crate) async fn open_client(
    database_url: &str,
) -> Result<(Client, mpsc::UnboundedReceiver<Notification>), ConnectionError> {
    let (rest, tls) = crate::tls::split(database_url)
        .map_err(|e| ConnectionError::InvalidConnectionUrl(e.to_string()))?;
    let mut config: Config = rest
        .parse()
        .map_err(|e: tokio_postgres::Error| ConnectionError::InvalidConnectionUrl(e.to_string()))?;
    // TLS is ours: tokio-postgres sees a plain stream, so it has no channel binding to offer.
    config.ssl_mode(tokio_postgres::config::SslMode::Disable);
    if config.get_channel_binding() == tokio_postgres::config::ChannelBinding::Require {
        return Err(ConnectionError::InvalidConnectionUrl(
            "channel_binding=require is not supported; sslmode=verify-full authenticates the \
             server by its certificate"
                .into(),
        ));
    }
    let hosts = config.get_hosts();
    let hostaddrs = config.get_hostaddrs();
    let count = hosts.len().max(hostaddrs.len());
    if count == 0 {
        return Err(ConnectionError::InvalidConnectionUrl(
            "the database URL names no host".into(),
        ));
    }
    let mut last = None;
    for i in 0..count {
        let port = match config.get_ports() {
            [] => 5432,
            [one] => *one,
            many => *many.get(i).ok_or_else(|| {
                ConnectionError::InvalidConnectionUrl("one port per host, or just one".into())
            })?,
        };
        let target = match (hostaddrs.get(i), hosts.get(i)) {
            (Some(ip), Some(Host::Tcp(name))) => Target::Ip(*ip, Some(name)),
            (Some(ip), _) => Target::Ip(*ip, None),
            (None, Some(Host::Tcp(name))) => Target::Name(name),
            (None, Some(Host::Unix(dir))) => Target::Unix(dir),
            (None, None) => unreachable!("i < max(hosts, hostaddrs)"),
        };
        match connect_one(&config, &tls, &target, port).await {
            Ok(conn) => return Ok(conn),
            Err(e @ ConnectionError::InvalidConnectionUrl(_)) => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("at least one host was tried"))
}

enum Target<'a> {
    /// `hostaddr`, with the `host` name given beside it (what a certificate is checked against).
    Ip(IpAddr, Option<&'a str>),
    Name(&'a str),
    Unix(&'a std::path::Path),
}

impl Target<'_> {
    /// The name TLS checks; none over a Unix socket, where libpq never uses TLS.
    fn tls_name(&self) -> Option<String> {
        match self {
            Target::Ip(_, Some(name)) | Target::Name(name) => Some((*name).to_owned()),
            Target::Ip(ip, None) => Some(ip.to_string()),
            Target::Unix(_) => None,
        }
    }
}

async fn connect_one(
    config: &Config,
    tls: &TlsOptions,
    target: &Target<'_>,
    port: u16,
) -> Result<(Client, mpsc::UnboundedReceiver<Notification>), ConnectionError> {
    let stream = secure(config, tls, target, port).await?;
    let encrypted = matches!(stream, Either::Right(_));
    let (client, connection) = config
        .connect_raw(Tagging::new(stream), NoTls)
        .await
        .map_err(|e| match (encrypted, rustls_cause(&e), target.tls_name()) {
            // TLS 1.3 finishes the client's handshake first: a refused client certificate
            // arrives as an alert on the first read.
            (true, Some(cause), Some(host)) => ConnectionError::BadConnection(format!(
                "TLS to {host}:{port}: {}",
                crate::tls::negotiate::explain_rustls(cause, tls, &host)
            )),
            _ => server_or_io(e),
        })?;
    let notifications = drive(connection);
    if config.get_target_session_attrs() != TargetSessionAttrs::Any {
        check_session_attrs(&client, config.get_target_session_attrs()).await?;
    }
    Ok((client, notifications))
}

/// The socket, with TLS as the mode asks: `prefer` falls back to plain text when the server
/// declines or the handshake fails (on a new socket, as libpq does), the stricter modes refuse.
async fn secure(
    config: &Config,
    tls: &TlsOptions,
    target: &Target<'_>,
    port: u16,
) -> Result<Either<Socket, Box<TlsSocket>>, ConnectionError> {
    let bad = |e: io::Error| ConnectionError::BadConnection(e.to_string());
    let socket = open(config, target, port).await.map_err(bad)?;
    let Some(host) = target.tls_name().filter(|_| tls.mode != SslMode::Disable) else {
        return Ok(Either::Left(socket));
    };
    let refused =
        |e: TlsError| ConnectionError::BadConnection(format!("TLS to {host}:{port}: {e}"));
    match start_tls(socket, tls, &host).await {
        Ok(Offer::Accepted(tls)) => Ok(Either::Right(tls)),
        Ok(Offer::Declined(socket)) if tls.mode == SslMode::Prefer => Ok(Either::Left(socket)),
        Ok(Offer::Declined(_)) => Err(refused(TlsError::NotOffered(tls.mode))),
        // The string itself is wrong: no host or retry can help.
        Err(e @ TlsError::Option(_)) => Err(ConnectionError::InvalidConnectionUrl(e.to_string())),
        // A file the start-up check read (`TlsOptions::check`) may be mid-rotation now: a
        // connection error, retried like any other, never a fatal one that halts an account.
        Err(e @ (TlsError::File { .. } | TlsError::NoSystemRoots(_))) => {
            Err(ConnectionError::BadConnection(e.to_string()))
        }
        Err(e) if tls.mode == SslMode::Prefer => {
            tracing::debug!(error = %e, host, "TLS handshake failed; sslmode=prefer goes on in plain text");
            Ok(Either::Left(open(config, target, port).await.map_err(bad)?))
        }
        Err(e) => Err(refused(e)),
    }
}

/// Drives the connection; ends when the client is dropped, or with the error that closed the
/// connection (which the client's next call also reports).
fn drive(
    mut connection: tokio_postgres::Connection<Stream, NoTlsStream>,
) -> mpsc::UnboundedReceiver<Notification> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    // Nobody listening (a pooled connection) is fine.
                    let _ = tx.send(n);
                }
                // Notices: the server's words about our statements, not worth a log line.
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "database connection closed");
                    return;
                }
                None => return,
            }
        }
    });
    rx
}

/// The rustls error somewhere in a failed startup's causes.
fn rustls_cause(e: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(tls) = c.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = c.downcast_ref::<io::Error>().and_then(|io| io.get_ref())
            && let Some(tls) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(tls);
        }
        cause = c.source();
    }
    None
}

async fn open(config: &Config, target: &Target<'_>, port: u16) -> io::Result<Socket> {
    let timeout = config.get_connect_timeout().copied();
    match target {
        Target::Unix(dir) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            Ok(Either::Right(
                within(timeout, UnixStream::connect(path)).await?,
            ))
        }
        Target::Ip(ip, _) => tcp(config, SocketAddr::new(*ip, port), timeout).await,
        Target::Name(name) => {
            let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{name}: no address"));
            for addr in within(timeout, tokio::net::lookup_host((*name, port))).await? {
                match tcp(config, addr, timeout).await {
                    Ok(s) => return Ok(s),
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
    }
}

async fn tcp(config: &Config, addr: SocketAddr, timeout: Option<Duration>) -> io::Result<Socket> {
    let stream = within(timeout, TcpStream::connect(addr)).await?;
    stream.set_nodelay(true)?;
    let sock = SockRef::from(&stream);
    if let Some(t) = config.get_tcp_user_timeout() {
        sock.set_tcp_user_timeout(Some(*t))?;
    }
    if config.get_keepalives() {
        let mut keepalive = TcpKeepalive::new().with_time(config.get_keepalives_idle());
        if let Some(interval) = config.get_keepalives_interval() {
            keepalive = keepalive.with_interval(interval);
        }
        if let Some(retries) = config.get_keepalives_retries() {
            keepalive = keepalive.with_retries(retries);
        }
        sock.set_tcp_keepalive(&keepalive)?;
    }
    Ok(Either::Left(stream))
}

async fn within<T>(
    timeout: Option<Duration>,
    f: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match timeout {
        Some(t) => tokio::time::timeout(t, f)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connection timed out"))?,
        None => f.await,
    }
}

/// `target_session_attrs=read-write` skips a standby (or a demoted primary) for the next host.
async fn check_session_attrs(
    client: &tokio_postgres::Client,
    wanted: TargetSessionAttrs,
) -> Result<(), ConnectionError> {
    let rows = client
        .simple_query("SHOW transaction_read_only")
        .await
        .map_err(server_or_io)?;
    let read_only = rows.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).map(|v| v == "on"),
        _ => None,
    });
    let fits = match (wanted, read_only) {
        (TargetSessionAttrs::ReadWrite, Some(ro)) => !ro,
        (TargetSessionAttrs::ReadOnly, Some(ro)) => ro,
        _ => true,
    };
    if fits {
        Ok(())
    } else {
        Err(ConnectionError::BadConnection(format!(
            "server does not match target_session_attrs={wanted:?}"
        )))
    }
}

/// A server's refusal (too many clients, starting up, bad password) keeps its tagged message;
/// anything else is a socket problem.
fn server_or_io(e: tokio_postgres::Error) -> ConnectionError {
    match e.as_db_error() {
        Some(db) => ConnectionError::CouldntSetupConfiguration(DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(ServerError(db.clone())),
        )),
        None => ConnectionError::BadConnection(e.to_string()),
    }
}

struct ServerError(tokio_postgres::error::DbError);

impl DatabaseErrorInformation for ServerError {
    fn message(&self) -> &str {
        self.0.message()
    }
    fn details(&self) -> Option<&str> {
        self.0.detail()
    }
    fn hint(&self) -> Option<&str> {
        self.0.hint()
    }
    fn table_name(&self) -> Option<&str> {
        self.0.table()
    }
    fn column_name(&self) -> Option<&str> {
        self.0.column()
    }
    fn constraint_name(&self) -> Option<&str> {
        self.0.constraint()
    }
    fn statement_position(&self) -> Option<i32> {
        None
    }
}
