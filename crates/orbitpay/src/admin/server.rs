//! Serving the router on a Unix domain socket.
//!
//! One task per connection, served by hyper's HTTP/1 connection builder: a slow or malformed
//! client only ever occupies its own task. Before a connection is served its peer's uid is
//! checked (SO_PEERCRED) against the allow-list.
//!
//! Two bounds, so that idle clients cannot starve working ones: `max_connections` requests
//! are in progress at once (a slot is held from a request's headers to its response, never by
//! an idle keep-alive connection), and up to [`OPEN_PER_SLOT`] times as many connections may be
//! open. hyper closes a connection that sends no complete headers within `header_timeout`,
//! silent new ones and idle keep-alive ones alike; the handlers bound the time to read a body.
//! Health, readiness and metrics need no slot, so probes get through when every slot is busy.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::support::error::{ApiError, code};
use crate::config::{AdminConfig, ConfigError};

/// How and where the socket is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketOptions {
    pub path: PathBuf,
    /// File mode of the socket, e.g. `0o660`.
    pub mode: u32,
    /// Group owning the socket (a name or a numeric gid).
    pub group: Option<String>,
    /// When non-empty, only these peer uids are served; others get 403.
    pub allowed_uids: Vec<u32>,
    /// Requests in progress at once; further ones wait for a slot.
    pub max_connections: usize,
    /// Time to receive a request's headers, idle time on a keep-alive connection included.
    pub header_timeout: Duration,
    /// At shutdown, how long open connections get to finish their request.
    pub shutdown_grace: Duration,
}

impl SocketOptions {
    pub fn new(path: impl Into<PathBuf>) -> SocketOptions {
        SocketOptions {
            path: path.into(),
            mode: 0o660,
            group: None,
            allowed_uids: Vec::new(),
            max_connections: 64,
            header_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }

    pub fn from_config(admin: &AdminConfig) -> Result<SocketOptions, ConfigError> {
        Ok(SocketOptions {
            path: admin.socket.clone(),
            mode: admin.mode_bits()?,
            group: admin.group.clone().filter(|g| !g.is_empty()),
            allowed_uids: admin.allowed_uids.clone(),
            max_connections: admin.max_connections.max(1),
            header_timeout: admin.header_timeout,
            shutdown_grace: admin.request_timeout,
        })
    }
}

/// Open connections allowed per request slot (idle or silent ones are closed after
/// `header_timeout`); beyond them, new connections wait in the listen backlog.
pub const OPEN_PER_SLOT: usize = 4;

/// Paths answered without a request slot: cheap, and what probes must always reach.
const SLOTLESS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("another server is listening on {0}")]
    InUse(PathBuf),
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    #[error("admin socket {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ServeError + '_ {
    move |source| ServeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A bound admin socket. Dropping it removes the socket file (if it is still ours).
pub struct AdminListener {
    listener: UnixListener,
    path: PathBuf,
    /// `None` when systemd owns the file (socket activation).
    file: Option<SocketFile>,
    options: SocketOptions,
}

/// The socket file we created, identified by device and inode so that we never remove a file
/// someone else put there since.
struct SocketFile {
    path: PathBuf,
    id: (u64, u64),
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino()) == self.id => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the admin socket");
                }
            }
            _ => {}
        }
    }
}

/// Creates the socket file: removes a stale one (a socket nothing answers on), refuses a live
/// one or a non-socket file, and binds it with its mode and group (see [`bind_private`]).
pub async fn bind(options: SocketOptions) -> Result<AdminListener, ServeError> {
    let path = options.path.clone();
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if !meta.file_type().is_socket() => return Err(ServeError::NotASocket(path)),
        Ok(_) => match UnixStream::connect(&path).await {
            Ok(_) => return Err(ServeError::InUse(path)),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::info!(path = %path.display(), "removing a stale admin socket");
                std::fs::remove_file(&path).map_err(io_err(&path))?;
            }
            Err(e) => return Err(io_err(&path)(e)),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&path)(e)),
    }
    let gid = options.group.as_deref().map(resolve_group).transpose()?;
    let (listener, id) = bind_private(&path, options.mode, gid)?;
    let file = SocketFile {
        path: path.clone(),
        id,
    };
    tracing::info!(path = %path.display(), mode = format!("{:o}", options.mode), "admin socket listening");
    Ok(AdminListener {
        listener,
        path,
        file: Some(file),
        options,
    })
}

/// Binds a socket that appears at `path` only once it has its mode and group, so it is never
/// reachable with the wider permissions bind(2) gives it (the umask's).
///
/// It is bound inside a fresh 0700 directory beside `path` (so only we can reach it there),
/// given its group and mode, then hard-linked into place, and the directory removed. The
/// alternatives fail: the umask is process-wide, and the runtime's other threads create files
/// meanwhile; fchmod on a socket before bind does not reach the file bind creates on Linux.
/// link(2), unlike rename(2), refuses to replace whatever another server bound at `path` since
/// the stale check. The directory's name is short, so the staged path is no longer than `path`
/// unless the socket's own name is under 9 bytes (a socket path is limited to 107).
fn bind_private(
    path: &Path,
    mode: u32,
    gid: Option<u32>,
) -> Result<(UnixListener, (u64, u64)), ServeError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let private = tempfile::Builder::new()
        .prefix(".")
        .rand_bytes(6)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(parent)
        .map_err(io_err(path))?;
    let staged = private.path().join("s");
    let listener = UnixListener::bind(&staged).map_err(io_err(&staged))?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(&staged, None, Some(gid)).map_err(io_err(&staged))?;
    }
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode))
        .map_err(io_err(&staged))?;
    let meta = std::fs::symlink_metadata(&staged).map_err(io_err(&staged))?;
    match std::fs::hard_link(&staged, path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(ServeError::InUse(path.to_owned()));
        }
        Err(e) => return Err(io_err(path)(e)),
    }
    // Dropping `private` removes the staged name and the directory; the socket stays at `path`.
    Ok((listener, (meta.dev(), meta.ino())))
}

/// The admin socket systemd handed over (`LISTEN_FDS`, from `orbitpay.socket`), if any. systemd
/// owns the file, its mode and its group (`SocketMode=`, `SocketGroup=`), so the hardened unit
/// needs no `chown`; the daemon neither creates nor removes it. `options.mode` and
/// `options.group` do not apply.
pub fn from_systemd(options: SocketOptions) -> Result<Option<AdminListener>, ServeError> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(None);
    }
    let from_env = |source| ServeError::Io {
        path: "LISTEN_FDS".into(),
        source,
    };
    let Some(std_listener) = fds.take_unix_listener(0).map_err(from_env)? else {
        return Ok(None);
    };
    std_listener.set_nonblocking(true).map_err(from_env)?;
    let listener = UnixListener::from_std(std_listener).map_err(from_env)?;
    let path = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(Path::to_owned))
        .unwrap_or_else(|| options.path.clone());
    tracing::info!(path = %path.display(), "admin socket handed over by systemd (socket activation)");
    Ok(Some(AdminListener {
        listener,
        path,
        file: None,
        options,
    }))
}

fn resolve_group(group: &str) -> Result<u32, ServeError> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(group) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        _ => Err(ServeError::UnknownGroup(group.to_owned())),
    }
}

impl AdminListener {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub async fn serve(
        self,
        router: Router,
        shutdown: CancellationToken,
    ) -> Result<(), ServeError> {
        let AdminListener {
            listener,
            file,
            options,
            ..
        } = self;
        let options = Arc::new(options);
        let slots = Arc::new(Semaphore::new(options.max_connections));
        let router = router.layer(axum::middleware::from_fn(move |request, next| {
            hold_a_slot(slots.clone(), request, next)
        }));
        let permits = Arc::new(Semaphore::new(
            options.max_connections.saturating_mul(OPEN_PER_SLOT),
        ));
        let mut connections = JoinSet::new();
        loop {
            while connections.try_join_next().is_some() {}
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                () = shutdown.cancelled() => break,
            };
            let stream = tokio::select! {
                r = listener.accept() => match r {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "admin socket accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = shutdown.cancelled() => break,
            };
            let allowed = peer_allowed(&stream, &options.allowed_uids);
            let router = router.clone();
            let options = options.clone();
            let shutdown = shutdown.clone();
            connections.spawn(async move {
                let _permit = permit;
                if allowed {
                    serve_connection(stream, router, &options, shutdown).await;
                } else {
                    serve_connection(stream, forbidden_router(), &options, shutdown).await;
                }
            });
        }
        drop(listener);
        // Open connections finish their current request (graceful shutdown), bounded.
        let drained =
            tokio::time::timeout(options.shutdown_grace + Duration::from_secs(1), async {
                while connections.join_next().await.is_some() {}
            })
            .await;
        if drained.is_err() {
            tracing::warn!("admin connections still open after the grace period; closing them");
            connections.abort_all();
        }
        drop(file);
        tracing::info!("admin socket closed");
        Ok(())
    }
}

/// Runs a request while it holds one of the `max_connections` slots (probes need none).
async fn hold_a_slot(
    slots: Arc<Semaphore>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if SLOTLESS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let _slot = slots
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    next.run(request).await
}

/// Checks the peer's uid against the allow-list (empty: everyone the file mode lets in).
fn peer_allowed(stream: &UnixStream, allowed: &[u32]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    match stream.peer_cred() {
        Ok(cred) if allowed.contains(&cred.uid()) => true,
        Ok(cred) => {
            tracing::warn!(
                uid = cred.uid(),
                pid = cred.pid(),
                "admin socket: peer uid not allowed"
            );
            metrics::counter!("orbitpay_admin_connections_refused_total", "reason" => "uid")
                .increment(1);
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "admin socket: cannot read peer credentials; refusing");
            metrics::counter!("orbitpay_admin_connections_refused_total", "reason" => "peer_cred")
                .increment(1);
            false
        }
    }
}

/// Answers every request with 403 FORBIDDEN.
fn forbidden_router() -> Router {
    Router::new().fallback(|| async {
        ApiError::new(
            StatusCode::FORBIDDEN,
            code::FORBIDDEN,
            "this user may not use the admin socket",
        )
        .into_response()
    })
}

async fn serve_connection(
    stream: UnixStream,
    router: Router,
    options: &SocketOptions,
    shutdown: CancellationToken,
) {
    let service = TowerToHyperService::new(router);
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        r = connection.as_mut() => r,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            match tokio::time::timeout(options.shutdown_grace, connection.as_mut()).await {
                Ok(r) => r,
                Err(_) => return,
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "admin connection ended with an error");
    }
}
