//! Which server the tests use, and the migrated template on it.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::{
    AsyncConnection as _, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection as _,
};
use sha2::{Digest as _, Sha256};
use tokio::sync::OnceCell;

use crate::cluster::Cluster;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Serialises template creation across every test process on the server.
const TEMPLATE_LOCK_KEY: i64 = 0x6f72_6269_7474_706c; // "orbittpl"

/// Bump when the way templates are built changes, to retire old ones.
const TEMPLATE_FORMAT: &str = "1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// `DATABASE_URL` or the default URL.
    External,
    /// The private cluster started by this test run.
    Throwaway,
}

#[derive(Debug)]
pub struct Server {
    pub kind: ServerKind,
    /// The maintenance database, used to create and drop test databases.
    pub admin_url: String,
    /// Name of the migrated template database.
    pub template: String,
}

static SERVER: OnceCell<Server> = OnceCell::const_new();

/// The process-wide server, resolved and templated on first use.
pub async fn server() -> anyhow::Result<&'static Server> {
    SERVER.get_or_try_init(resolve).await
}

async fn resolve() -> anyhow::Result<Server> {
    let forced = std::env::var("ORBITPAY_TEST_PG").ok();
    let external = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let (kind, admin_url) = match forced.as_deref() {
        Some("throwaway") => (ServerKind::Throwaway, start_cluster().await?),
        Some("external") => (ServerKind::External, external),
        Some(other) => bail!("ORBITPAY_TEST_PG={other:?}: expected \"throwaway\" or \"external\""),
        None => match probe(&external).await {
            Ok(()) => (ServerKind::External, external),
            Err(e) => {
                eprintln!(
                    "orbitpay-testkit: no PostgreSQL at {} ({e:#}); starting a throwaway cluster",
                    redact(&external)
                );
                (ServerKind::Throwaway, start_cluster().await?)
            }
        },
    };
    let template = ensure_template(&admin_url).await?;
    Ok(Server {
        kind,
        admin_url,
        template,
    })
}

async fn probe(url: &str) -> anyhow::Result<()> {
    let mut conn = tokio::time::timeout(Duration::from_secs(5), AsyncPgConnection::establish(url))
        .await
        .context("timed out")??;
    conn.batch_execute("SELECT 1").await?;
    Ok(())
}

async fn start_cluster() -> anyhow::Result<String> {
    let cluster =
        tokio::task::spawn_blocking(|| Cluster::default_location().ensure_running()).await??;
    Ok(cluster.url())
}

/// Builds the template under a cross-process advisory lock unless it exists.
async fn ensure_template(admin_url: &str) -> anyhow::Result<String> {
    let template = format!("orbitpay_tpl_{}", &migrations_hash()?[..16]);
    let mut admin = AsyncPgConnection::establish(admin_url)
        .await
        .with_context(|| format!("connecting to {}", redact(admin_url)))?;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(TEMPLATE_LOCK_KEY)
        .execute(&mut admin)
        .await?;
    let built = build_template_if_missing(&mut admin, admin_url, &template).await;
    // The lock also ends with the connection; unlock anyway so waiters do
    // not depend on how fast the server notices.
    let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(TEMPLATE_LOCK_KEY)
        .execute(&mut admin)
        .await;
    built?;
    unlocked?;
    Ok(template)
}

async fn build_template_if_missing(
    admin: &mut AsyncPgConnection,
    admin_url: &str,
    template: &str,
) -> anyhow::Result<()> {
    if database_exists(admin, template).await? {
        return Ok(());
    }
    // Built under a scratch name and renamed when complete, so a crash
    // mid-migration never leaves a half-migrated template behind.
    let building = format!("{template}_building");
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&building)
        ))
        .await?;
    create_database(admin, &building, "template0", "").await?;
    let url = database_url(admin_url, &building)?;
    orbitpay_store::run_migrations(&url)
        .await
        .context("migrating the template")?;
    // No one may connect to a template: CREATE DATABASE ... TEMPLATE fails
    // while anything is connected. The migration connection is closed, but
    // its backend may still be exiting; RENAME waits up to 5s for it.
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {b} WITH ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{b_lit}'; \
             ALTER DATABASE {b} RENAME TO {t}",
            b = quote_ident(&building),
            b_lit = building,
            t = quote_ident(template),
        ))
        .await
        .context("publishing the template")?;
    Ok(())
}

async fn database_exists(admin: &mut AsyncPgConnection, name: &str) -> anyhow::Result<bool> {
    #[derive(QueryableByName)]
    struct Exists {
        #[diesel(sql_type = Bool)]
        exists: bool,
    }
    let row: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<Text, _>(name)
            .get_result(admin)
            .await?;
    Ok(row.exists)
}

/// `options` follow the template (`ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'`).
pub(crate) async fn create_database(
    admin: &mut AsyncPgConnection,
    name: &str,
    template: &str,
    options: &str,
) -> anyhow::Result<()> {
    let sql = format!(
        "CREATE DATABASE {} TEMPLATE {} {options}",
        quote_ident(name),
        quote_ident(template)
    );
    let mut attempt = 0;
    loop {
        match admin.batch_execute(&sql).await {
            Ok(()) => return Ok(()),
            // A concurrent clone of the same template can briefly count as a
            // user of it.
            Err(e)
                if attempt < 10 && e.to_string().contains("is being accessed by other users") =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("{sql} failed")),
        }
    }
}

/// `admin_url` with its database replaced by `name`.
pub(crate) fn database_url(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(admin_url).context("DATABASE_URL is not a URL")?;
    url.set_path(&format!("/{name}"));
    Ok(url.into())
}

/// Test database names are generated, but quote anyway.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.into()
        }
        _ => url.to_owned(),
    }
}

/// Hash of every file under `migrations/`, in a stable order.
fn migrations_hash() -> anyhow::Result<String> {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"));
    let mut files = Vec::new();
    collect_files(root, root, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    hasher.update(TEMPLATE_FORMAT.as_bytes());
    for relative in files {
        let content = std::fs::read(root.join(&relative))?;
        hasher.update(relative.as_bytes());
        hasher.update([0]);
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(&content);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            let relative = path.strip_prefix(root)?.to_string_lossy().into_owned();
            out.push(relative);
        }
    }
    Ok(())
}
