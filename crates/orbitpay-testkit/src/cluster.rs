//! A private, throwaway PostgreSQL cluster for machines without a server.
//!
//! One cluster per machine location, shared by every test process: the first
//! process to take the lock file initialises and starts it, later ones find it
//! running. It listens on a Unix socket only, so it never collides with a
//! real server's port. It is left running for the next run ([`Cluster::stop`]
//! removes it from memory; deleting the directory resets it).
//!
//! A test's private cluster may also listen on TCP (a free port on 127.0.0.1) with TLS and a
//! `pg_hba.conf` of its own, for the TLS tests; see [`Cluster::tcp`] and [`Cluster::tls`].

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::certs::KeyedCert;

/// Port number in the socket's file name (`.s.PGSQL.<port>`), unless [`Cluster::tcp`] picks one.
const PORT: u16 = 5432;
const SERVICE_USER: &str = "postgres";

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("no {0} found in PATH or /usr/lib/postgresql/*/bin")]
    MissingBinary(&'static str),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
}

#[derive(Debug, Clone)]
pub struct Cluster {
    /// Holds `data/` and the socket; owned by the service user when root.
    dir: PathBuf,
    /// `postgresql.conf` lines appended at initialisation, after the defaults (so they win).
    extra_conf: String,
    /// Environment of the server process (e.g. `LANGUAGE` for translated messages).
    env: Vec<(String, String)>,
    port: u16,
    /// Also listen on 127.0.0.1 at `port`.
    tcp: bool,
    tls: Option<ServerTls>,
    /// Replaces `pg_hba.conf` (after a `local all all trust` line, so [`Cluster::url`] works).
    hba: Option<String>,
}

/// The server side of TLS: its certificate, and the CA whose client certificates it accepts
/// (`ssl_ca_file`, what `cert` authentication checks against).
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub server: KeyedCert,
    pub client_ca_pem: String,
}

impl Cluster {
    /// `$ORBITPAY_TEST_PG_DIR`, else a fixed directory under the temp dir so
    /// that separate test processes meet.
    pub fn default_location() -> Cluster {
        let dir = std::env::var_os("ORBITPAY_TEST_PG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("orbitpay-testkit-pg"));
        Cluster::at(dir)
    }

    /// A cluster of its own at `dir` (a tempdir), for tests that stop, restart or reconfigure
    /// a server.
    pub fn at(dir: impl Into<PathBuf>) -> Cluster {
        Cluster {
            dir: dir.into(),
            extra_conf: String::new(),
            env: Vec::new(),
            port: PORT,
            tcp: false,
            tls: None,
            hba: None,
        }
    }

    /// Also listens on TCP, on 127.0.0.1 at a port free when this is called ([`Cluster::port`]).
    pub fn tcp(mut self) -> Cluster {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free TCP port on 127.0.0.1")
            .port();
        self.port = port;
        self.tcp = true;
        self
    }

    /// `ssl = on` with this certificate; applied when the cluster is first initialised.
    pub fn tls(mut self, tls: ServerTls) -> Cluster {
        self.tls = Some(tls);
        self
    }

    /// These `pg_hba.conf` lines instead of initdb's (`hostssl all all 127.0.0.1/32 cert`);
    /// applied when the cluster is first initialised.
    pub fn hba(mut self, lines: &str) -> Cluster {
        self.hba = Some(lines.to_owned());
        self
    }

    /// The TCP port (with [`Cluster::tcp`]), and the number in the socket's file name.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Adds a `postgresql.conf` line (`max_connections = 5`), applied when the cluster is
    /// first initialised.
    pub fn setting(mut self, line: &str) -> Cluster {
        self.extra_conf.push_str(line);
        self.extra_conf.push('\n');
        self
    }

    /// Sets an environment variable of the server process.
    pub fn server_env(mut self, key: &str, value: &str) -> Cluster {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Connection URL of the maintenance database, over the Unix socket.
    pub fn url(&self) -> String {
        format!(
            "postgres:///postgres?user=postgres&host={}&port={}",
            self.dir.display(),
            self.port
        )
    }

    /// Initialises (once) and starts (unless running) the cluster. Blocking.
    pub fn ensure_running(self) -> Result<Cluster, ClusterError> {
        let _lock = self.lock()?;
        let data = self.dir.join("data");
        let as_root = running_as_root()?;
        if !data.join("PG_VERSION").exists() {
            self.init(&data, as_root)?;
        }
        let pg_ctl = find_binary("pg_ctl")?;
        let status = run(
            Command::new(&pg_ctl).arg("status").arg("-D").arg(&data),
            as_root,
        )?;
        if !status.status.success() {
            let log = self.dir.join("postgres.log");
            checked(
                Command::new(&pg_ctl)
                    .envs(self.env.iter().map(|(k, v)| (k, v)))
                    .arg("start")
                    .arg("-w")
                    .arg("-t")
                    .arg("60")
                    .arg("-D")
                    .arg(&data)
                    .arg("-l")
                    .arg(&log),
                as_root,
            )?;
        }
        Ok(self)
    }

    /// `pg_ctl stop -m fast` (open sessions get 57P01), waiting until the server is down: for a
    /// cluster this process started for itself (the demo's, a test's private one); the shared
    /// test cluster is left running for the next run. Blocking.
    pub fn stop(&self) -> Result<(), ClusterError> {
        self.stop_in("fast")
    }

    /// `pg_ctl stop -m immediate`: a crash (no checkpoint, no goodbye to clients: their
    /// connections just drop; the next start replays the WAL), waiting until the server is
    /// down. Same rules as [`Cluster::stop`]. Blocking.
    pub fn stop_immediate(&self) -> Result<(), ClusterError> {
        self.stop_in("immediate")
    }

    fn stop_in(&self, mode: &str) -> Result<(), ClusterError> {
        let _lock = self.lock()?;
        let pg_ctl = find_binary("pg_ctl")?;
        checked(
            Command::new(pg_ctl)
                .args(["stop", "-m", mode, "-w", "-D"])
                .arg(self.dir.join("data")),
            running_as_root()?,
        )?;
        Ok(())
    }

    /// Exclusive across processes; released when the file closes (`File::lock`, Rust 1.89,
    /// the workspace's rust-version).
    fn lock(&self) -> Result<File, ClusterError> {
        let mut path = self.dir.clone().into_os_string();
        path.push(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| ClusterError::Io {
                what: format!("opening {}", Path::new(&path).display()),
                source,
            })?;
        file.lock().map_err(|source| ClusterError::Io {
            what: "locking the cluster".into(),
            source,
        })?;
        Ok(file)
    }

    fn init(&self, data: &Path, as_root: bool) -> Result<(), ClusterError> {
        // A previous attempt may have died half way.
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).map_err(|source| ClusterError::Io {
                what: format!("clearing {}", self.dir.display()),
                source,
            })?;
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| ClusterError::Io {
            what: format!("creating {}", self.dir.display()),
            source,
        })?;
        if as_root {
            // initdb and postgres refuse to run as root.
            checked(
                Command::new("chown")
                    .arg(format!("{SERVICE_USER}:"))
                    .arg(&self.dir),
                false,
            )?;
        }
        let initdb = find_binary("initdb")?;
        checked(
            Command::new(initdb)
                .arg("-D")
                .arg(data)
                .args(["-U", "postgres", "--auth=trust", "--no-sync"])
                .args(["--locale=C", "--encoding=UTF8"]),
            as_root,
        )?;
        let mut settings = format!(
            "\n# orbitpay-testkit\nlisten_addresses = '{}'\nunix_socket_directories = '{}'\n\
             port = {}\nmax_connections = 300\nfsync = off\nsynchronous_commit = off\n\
             full_page_writes = off\n",
            if self.tcp { "127.0.0.1" } else { "" },
            self.dir.display(),
            self.port,
        );
        if let Some(tls) = &self.tls {
            // Relative paths are read from the data directory.
            write_owned(
                &data.join("server.crt"),
                &tls.server.cert_pem,
                0o644,
                as_root,
            )?;
            write_owned(
                &data.join("server.key"),
                &tls.server.key_pem,
                0o600,
                as_root,
            )?;
            write_owned(
                &data.join("client-ca.crt"),
                &tls.client_ca_pem,
                0o644,
                as_root,
            )?;
            settings.push_str(
                "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
                 ssl_ca_file = 'client-ca.crt'\n",
            );
        }
        if let Some(hba) = &self.hba {
            let hba = format!("local all all trust\n{hba}\n");
            write_owned(&data.join("pg_hba.conf"), &hba, 0o600, as_root)?;
        }
        settings.push_str(&self.extra_conf);
        let conf = data.join("postgresql.conf");
        let mut existing = std::fs::read_to_string(&conf).map_err(|source| ClusterError::Io {
            what: format!("reading {}", conf.display()),
            source,
        })?;
        existing.push_str(&settings);
        std::fs::write(&conf, existing).map_err(|source| ClusterError::Io {
            what: format!("writing {}", conf.display()),
            source,
        })
    }
}

/// A file the server reads: owned by the service user when we are root (the server refuses a
/// key that others can read).
fn write_owned(path: &Path, contents: &str, mode: u32, as_root: bool) -> Result<(), ClusterError> {
    use std::os::unix::fs::PermissionsExt as _;
    let io = |source| ClusterError::Io {
        what: format!("writing {}", path.display()),
        source,
    };
    std::fs::write(path, contents).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io)?;
    if as_root {
        checked(
            Command::new("chown")
                .arg(format!("{SERVICE_USER}:"))
                .arg(path),
            false,
        )?;
    }
    Ok(())
}

fn running_as_root() -> Result<bool, ClusterError> {
    let out = checked(Command::new("id").arg("-u"), false)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// PATH first, then the newest Debian-style versioned install.
fn find_binary(name: &'static str) -> Result<PathBuf, ClusterError> {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let candidate = entry.path().join("bin").join(name);
            candidate.is_file().then_some((version, candidate))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, path)| path)
        .ok_or(ClusterError::MissingBinary(name))
}

/// Runs as the service user when we are root.
fn run(command: &mut Command, as_service_user: bool) -> Result<Output, ClusterError> {
    let mut command = if as_service_user {
        let mut wrapped = Command::new("runuser");
        for (key, value) in command.get_envs() {
            if let Some(value) = value {
                wrapped.env(key, value);
            }
        }
        wrapped
            .args(["-u", SERVICE_USER, "--"])
            .arg(command.get_program())
            .args(command.get_args());
        wrapped
    } else {
        std::mem::replace(command, Command::new(""))
    };
    let description = format!("{command:?}");
    command.output().map_err(|source| ClusterError::Io {
        what: format!("running {description}"),
        source,
    })
}

fn checked(command: &mut Command, as_service_user: bool) -> Result<Output, ClusterError> {
    let description = format!("{command:?}");
    let out = run(command, as_service_user)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(ClusterError::Command {
            command: description,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}
