//! Opens a connection through tokio-postgres on a socket we own, so that every server error
//! passes [`Tagging`] (see [`crate::sqlstate`]) before diesel sees it.
//!
//! `tokio_postgres::Config::connect` owns its socket type and `try_from_client_and_connection`
//! only accepts that type, so the socket is opened here: the URL's hosts in order (TCP or Unix
//! directory), its ports, `hostaddr`, `connect_timeout`, keepalives, `tcp_user_timeout` and
//! `target_session_attrs`, as tokio-postgres reads them. No TLS (`sslmode=require` fails).
//! The connection task is driven here too; diesel then gets the client (`try_from`), which
//! only loses LISTEN/NOTIFY, unused by orbitpay.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use diesel::ConnectionError;
use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncPgConnection;
use socket2::{SockRef, TcpKeepalive};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::config::{Host, TargetSessionAttrs};
use tokio_postgres::{Config, NoTls, SimpleQueryMessage};
use tokio_util::either::Either;

use crate::sqlstate::Tagging;

type Socket = Either<TcpStream, UnixStream>;

/// A connection whose server errors carry their SQLSTATE tag.
pub(crate) async fn connect(database_url: &str) -> Result<AsyncPgConnection, ConnectionError> {
    let config: Config = database_url
        .parse()
        .map_err(|e: tokio_postgres::Error| ConnectionError::InvalidConnectionUrl(e.to_string()))?;
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
            (Some(ip), _) => Target::Ip(*ip),
            (None, Some(Host::Tcp(name))) => Target::Name(name),
            (None, Some(Host::Unix(dir))) => Target::Unix(dir),
            (None, None) => unreachable!("i < max(hosts, hostaddrs)"),
        };
        match connect_one(&config, &target, port).await {
            Ok(conn) => return Ok(conn),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("at least one host was tried"))
}

enum Target<'a> {
    Ip(IpAddr),
    Name(&'a str),
    Unix(&'a std::path::Path),
}

async fn connect_one(
    config: &Config,
    target: &Target<'_>,
    port: u16,
) -> Result<AsyncPgConnection, ConnectionError> {
    let socket = open(config, target, port)
        .await
        .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
    let (client, connection) = config
        .connect_raw(Tagging::new(socket), NoTls)
        .await
        .map_err(server_or_io)?;
    tokio::spawn(async move {
        // Ends when the client is dropped, or with the error that closed the connection
        // (which the client's next call also reports).
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "database connection closed");
        }
    });
    if config.get_target_session_attrs() != TargetSessionAttrs::Any {
        check_session_attrs(&client, config.get_target_session_attrs()).await?;
    }
    AsyncPgConnection::try_from(client).await
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
        Target::Ip(ip) => tcp(config, SocketAddr::new(*ip, port), timeout).await,
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
