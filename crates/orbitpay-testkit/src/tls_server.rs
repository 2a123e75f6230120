//! A private cluster on TCP for the TLS tests: `ssl = on` with a certificate for `localhost`
//! from a CA made in the test (or no TLS at all), stopped when dropped.

use std::path::PathBuf;

use crate::certs::{KeyedCert, TestCa};
use crate::cluster::{Cluster, ServerTls};

pub struct TlsServer {
    pub cluster: Cluster,
    /// The CA that signed the server's certificate and whose client certificates it accepts;
    /// `None` for a server without TLS.
    pub ca: Option<TestCa>,
    dir: tempfile::TempDir,
}

impl TlsServer {
    /// `ssl = on`; `pg_hba.conf` demands a client certificate from the user `certuser`
    /// (created here) and trusts everyone else, with or without TLS.
    pub async fn start() -> TlsServer {
        let ca = TestCa::new("orbitpay test CA");
        let dir = tempfile::tempdir().expect("a temp dir");
        let cluster = Cluster::at(dir.path().join("pg"))
            .tcp()
            .tls(ServerTls {
                server: ca.server(&["localhost"]),
                client_ca_pem: ca.cert_pem(),
            })
            .hba(
                "hostssl all certuser 127.0.0.1/32 cert\n\
                 host all certuser 127.0.0.1/32 reject\n\
                 host all all 127.0.0.1/32 trust",
            );
        let server = Self::run(cluster, Some(ca), dir).await;
        let mut admin = orbitpay_store::establish(
            &server.cluster.url(),
            &orbitpay_store::SessionSettings::default(),
        )
        .await
        .expect("the private cluster's socket");
        diesel_async::SimpleAsyncConnection::batch_execute(
            &mut admin,
            "CREATE ROLE certuser LOGIN",
        )
        .await
        .expect("CREATE ROLE");
        server
    }

    /// TCP without TLS.
    pub async fn without_tls() -> TlsServer {
        let dir = tempfile::tempdir().expect("a temp dir");
        let cluster = Cluster::at(dir.path().join("pg")).tcp();
        Self::run(cluster, None, dir).await
    }

    async fn run(cluster: Cluster, ca: Option<TestCa>, dir: tempfile::TempDir) -> TlsServer {
        let cluster = tokio::task::spawn_blocking(move || cluster.ensure_running())
            .await
            .expect("the cluster task")
            .expect("a private cluster");
        TlsServer { cluster, ca, dir }
    }

    /// A URL to `host` over TCP, as `user`, with these query parameters.
    pub fn url(&self, user: &str, host: &str, params: &str) -> String {
        format!(
            "postgres://{user}@{host}:{}/postgres?{params}",
            self.cluster.port()
        )
    }

    /// `postgres@localhost` with `sslmode=verify-full` against the test's CA.
    pub fn verify_full_url(&self) -> String {
        let root = self.root_cert();
        self.url(
            "postgres",
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={}", root.display()),
        )
    }

    /// The CA's certificate as a file, for `sslrootcert`.
    pub fn root_cert(&self) -> PathBuf {
        let ca = self.ca.as_ref().expect("a server with TLS");
        self.file("root.crt", &ca.cert_pem())
    }

    /// Writes a PEM file the client reads (0600, as libpq demands of keys).
    pub fn file(&self, name: &str, pem: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.dir.path().join(name);
        std::fs::write(&path, pem).expect("writing a PEM file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod 0600");
        path
    }

    /// `sslcert=...&sslkey=...` for this certificate, written as `<name>.crt` and `<name>.key`.
    pub fn client_files(&self, name: &str, cert: &KeyedCert) -> String {
        let crt = self.file(&format!("{name}.crt"), &cert.cert_pem);
        let key = self.file(&format!("{name}.key"), &cert.key_pem);
        format!("sslcert={}&sslkey={}", crt.display(), key.display())
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
    }
}
