//! The demo's scratch database: a fresh database on `DATABASE_URL`'s server or the local one,
//! else a throwaway cluster; and its removal.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, SimpleAsyncConnection as _};

const LOCAL_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub(crate) fn split_password(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let mut u = url::Url::parse(url).context("database URL")?;
    let password = u.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    });
    let _ = u.set_password(None);
    Ok((u.to_string(), password))
}

/// Where the demo's data lives and how to remove it.
pub(crate) struct DemoDatabase {
    /// Full URL (with any password).
    pub(crate) url: String,
    pub(crate) description: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Drop { admin_url: String, name: String },
    StopCluster(orbitpay_testkit::Cluster),
}

impl DemoDatabase {
    pub(crate) async fn provision(dir: &Path) -> anyhow::Result<DemoDatabase> {
        let name = format!("orbitpay_demo_{}", uuid::Uuid::new_v4().simple());
        if let Ok(server) = std::env::var("DATABASE_URL") {
            // Never the database itself: it may hold real sessions, and demo events in its
            // outbox would reach real webhooks.
            let url = create_database(&server, &name).await.with_context(|| {
                format!("cannot create a scratch database {name} on DATABASE_URL's server (the demo never writes into DATABASE_URL's own database)")
            })?;
            return Ok(DemoDatabase {
                url,
                description: format!("{name} (fresh, on DATABASE_URL's server)"),
                cleanup: Cleanup::Drop {
                    admin_url: server,
                    name,
                },
            });
        }
        // ORBITPAY_DEMO_PG=throwaway skips the local server (to exercise the cluster path).
        let local = match std::env::var("ORBITPAY_DEMO_PG").as_deref() {
            Ok("throwaway") => Err(anyhow::anyhow!("ORBITPAY_DEMO_PG=throwaway")),
            _ => create_database(LOCAL_SERVER, &name).await,
        };
        match local {
            Ok(url) => {
                return Ok(DemoDatabase {
                    url,
                    description: format!("{name} (fresh, on the local server)"),
                    cleanup: Cleanup::Drop {
                        admin_url: LOCAL_SERVER.into(),
                        name,
                    },
                });
            }
            Err(e) => tracing::info!(
                error = format!("{e:#}"),
                "no local PostgreSQL server; starting a throwaway cluster"
            ),
        }
        let cluster_dir = dir.join("pg");
        // The cluster runs as `postgres` when we are root: let it through the scratch dir.
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        }
        let cluster = tokio::task::spawn_blocking(move || {
            orbitpay_testkit::Cluster::at(cluster_dir).ensure_running()
        })
        .await?
        .context("starting a throwaway PostgreSQL cluster (is PostgreSQL installed?)")?;
        Ok(DemoDatabase {
            url: cluster.url(),
            description: format!("a throwaway cluster in {}", cluster.dir().display()),
            cleanup: Cleanup::StopCluster(cluster),
        })
    }

    pub(crate) async fn cleanup(&self) {
        match &self.cleanup {
            Cleanup::Drop { admin_url, name } => {
                let dropped = async {
                    let mut admin = AsyncPgConnection::establish(admin_url).await?;
                    admin
                        .batch_execute(&format!(
                            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                            quote_ident(name)
                        ))
                        .await?;
                    anyhow::Ok(())
                };
                if let Err(e) = dropped.await {
                    tracing::warn!(error = format!("{e:#}"), database = %name, "could not drop the demo database");
                }
            }
            Cleanup::StopCluster(cluster) => {
                let cluster = cluster.clone();
                let stopped = tokio::task::spawn_blocking(move || cluster.stop()).await;
                if !matches!(stopped, Ok(Ok(()))) {
                    tracing::warn!("could not stop the throwaway PostgreSQL cluster");
                }
            }
        }
    }
}

/// Creates `name` on `server` (a maintenance-database URL); returns its URL.
async fn create_database(server: &str, name: &str) -> anyhow::Result<String> {
    let mut admin =
        tokio::time::timeout(Duration::from_secs(5), AsyncPgConnection::establish(server))
            .await
            .context("connecting timed out")??;
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE template0",
            quote_ident(name)
        ))
        .await?;
    let mut url = url::Url::parse(server)?;
    url.set_path(&format!("/{name}"));
    Ok(url.into())
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
