//! Daemon configuration: TOML (`/etc/orbitpay/orbitpay.toml` by default) with
//! `ORBITPAY_SECTION__KEY` environment overrides. Unknown keys are errors, so a typo never
//! silently falls back to a default on the money path.
//!
//! Layers, later wins: built-in defaults ([`Config::default`], documented key by key in
//! `config/default.toml`), the file, then the environment. Secrets (the database password; the
//! webhook secrets when webhooks land) come from the file, a `*_file` key, or the systemd
//! credential directory (`$CREDENTIALS_DIRECTORY/<name>`, from `LoadCredential=`), and are
//! wrapped in [`Secret`] so `Debug`, logs and `check-config` show `[redacted]`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use orbitpay_core::{AccountId, toid};
use serde::{Deserialize, Serialize};

pub const DEFAULT_PATH: &str = "/etc/orbitpay/orbitpay.toml";
pub const TESTNET_PASSPHRASE: &str = "Test SDF Network ; September 2015";
pub const PUBLIC_PASSPHRASE: &str = "Public Global Stellar Network ; September 2015";
/// systemd credential names (`LoadCredential=<name>:<path>` in the unit).
pub const DATABASE_PASSWORD_CREDENTIAL: &str = "database-password";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Syntax errors, unknown keys, wrong types: every one figment found, one per line.
    #[error("configuration: {0}")]
    Parse(String),
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration: cannot read secret {path}: {source}")]
    Secret {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        let all: Vec<String> = error.into_iter().map(|e| e.to_string()).collect();
        ConfigError::Parse(all.join("\n"))
    }
}

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub horizon: HorizonSection,
    pub stellar: StellarConfig,
    pub accounts: Vec<WatchedAccount>,
    pub admin: AdminConfig,
    pub sessions: SessionsConfig,
    pub ingest: IngestConfig,
    pub jobs: JobsConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
}

/// A value that must never reach a log line or `check-config` output.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"[redacted]\""
        })
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "" } else { "[redacted]" })
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "[redacted]" })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Without a password; the password comes from `password`, `password_file` or the systemd
    /// credential `database-password`, and is spliced in at connect time.
    pub url: String,
    pub password: Secret,
    pub password_file: Option<PathBuf>,
    pub pool_size: usize,
    /// How long a caller waits for a free pooled connection.
    #[serde(with = "humantime_serde")]
    pub wait_timeout: Duration,
    /// Opening a connection (and checking a reused one) may take this long.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub lock_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub idle_in_transaction_timeout: Duration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "postgres://orbitpay@127.0.0.1:5432/orbitpay".into(),
            password: Secret::default(),
            password_file: None,
            pool_size: 10,
            wait_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            lock_timeout: Duration::from_secs(5),
            idle_in_transaction_timeout: Duration::from_secs(60),
        }
    }
}

impl DatabaseConfig {
    pub fn session_settings(&self) -> orbitpay_store::SessionSettings {
        orbitpay_store::SessionSettings {
            statement_timeout: self.statement_timeout,
            lock_timeout: self.lock_timeout,
            idle_in_transaction_session_timeout: self.idle_in_transaction_timeout,
        }
    }

    pub fn pool_config(&self) -> orbitpay_store::PoolConfig {
        orbitpay_store::PoolConfig {
            max_size: self.pool_size,
            wait_timeout: self.wait_timeout,
            create_timeout: self.connect_timeout,
            recycle_timeout: self.connect_timeout,
            session: self.session_settings(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HorizonSection {
    pub url: String,
    /// No bytes for this long on an open stream is a stall (Horizon itself closes at ~55 s).
    #[serde(with = "humantime_serde")]
    pub stall_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
}

impl Default for HorizonSection {
    fn default() -> Self {
        HorizonSection {
            url: "https://horizon-testnet.stellar.org".into(),
            stall_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(15),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl HorizonSection {
    /// The Horizon client's and followers' settings.
    pub fn client_config(&self) -> Result<orbitpay_horizon::HorizonConfig, ConfigError> {
        let url = url::Url::parse(&self.url).map_err(|e| invalid(format!("horizon.url: {e}")))?;
        let mut config = orbitpay_horizon::HorizonConfig::new(url);
        config.request_timeout = self.request_timeout;
        config.follow.stall_timeout = self.stall_timeout;
        config.follow.backoff_max = self.max_backoff;
        Ok(config)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StellarConfig {
    /// `testnet`, `public`, or a network passphrase (used in SEP-7 pay URIs).
    pub network: String,
}

impl Default for StellarConfig {
    fn default() -> Self {
        StellarConfig {
            network: "testnet".into(),
        }
    }
}

impl StellarConfig {
    pub fn passphrase(&self) -> &str {
        match self.network.as_str() {
            "testnet" => TESTNET_PASSPHRASE,
            "public" => PUBLIC_PASSPHRASE,
            other => other,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WatchedAccount {
    /// The receiving G account.
    pub address: String,
    /// Where to start when the database holds no cursor yet: `now` (default) or a paging token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_cursor: Option<String>,
}

/// Where ingestion of a new account begins (a stored cursor always wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartCursor {
    Now,
    Token(i64),
}

impl WatchedAccount {
    pub fn new(address: impl Into<String>) -> Self {
        WatchedAccount {
            address: address.into(),
            start_cursor: None,
        }
    }

    pub fn account_id(&self) -> Result<AccountId, ConfigError> {
        AccountId::from_str(&self.address)
            .map_err(|e| invalid(format!("accounts: {:?}: {e}", self.address)))
    }

    pub fn start(&self) -> Result<StartCursor, ConfigError> {
        match self.start_cursor.as_deref() {
            None | Some("now") => Ok(StartCursor::Now),
            Some(t) => t
                .parse::<i64>()
                .ok()
                .filter(|t| *t >= 0)
                .map(StartCursor::Token)
                .ok_or_else(|| {
                    invalid(format!(
                        "accounts: start_cursor {t:?} must be `now` or a paging token"
                    ))
                }),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub socket: PathBuf,
    /// Octal file mode of the socket, e.g. "0660".
    pub mode: String,
    /// Group that owns the socket (name or gid); unset keeps the daemon's group.
    pub group: Option<String>,
    /// When non-empty, only these peer uids may use the socket (checked with SO_PEERCRED).
    pub allowed_uids: Vec<u32>,
    pub max_connections: usize,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub idempotency_ttl: Duration,
    /// How long the report-tx endpoint waits for Horizon before answering `processing`.
    #[serde(with = "humantime_serde")]
    pub confirm_wait: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            socket: PathBuf::from("/run/orbitpay/admin.sock"),
            mode: "0660".into(),
            group: None,
            allowed_uids: Vec::new(),
            max_connections: 64,
            request_timeout: Duration::from_secs(10),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            confirm_wait: Duration::from_secs(5),
        }
    }
}

impl AdminConfig {
    pub fn mode_bits(&self) -> Result<u32, ConfigError> {
        let digits = self.mode.trim_start_matches("0o");
        (!digits.is_empty())
            .then(|| u32::from_str_radix(digits, 8).ok())
            .flatten()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| {
                invalid(format!(
                    "admin.mode {:?} must be an octal file mode like \"0660\"",
                    self.mode
                ))
            })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    #[serde(with = "humantime_serde")]
    pub default_expiry: Duration,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            default_expiry: Duration::from_secs(900),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// A standby instance tries to take each account this often, and the leader checks its lock
    /// connection this often: another instance takes over within about this long after the
    /// leader dies.
    #[serde(with = "humantime_serde")]
    pub leader_retry: Duration,
    /// Bound on in-flight work at shutdown.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// An ingest loop busy on one step (not waiting for Horizon) for longer than this is wedged:
    /// the watchdog stops pinging and systemd restarts the daemon.
    #[serde(with = "humantime_serde")]
    pub stuck_after: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            leader_retry: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(20),
            stuck_after: Duration::from_secs(120),
        }
    }
}

/// Cron schedules (six fields, seconds first) for the periodic jobs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Delete idempotency keys older than `admin.idempotency_ttl`.
    pub prune_idempotency_keys: String,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            prune_idempotency_keys: "0 */10 * * * *".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// An env-filter directive, e.g. `info,orbitpay_horizon=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Json,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Optional loopback TCP address for Prometheus, e.g. `127.0.0.1:9464`. `/metrics` is
    /// always served on the admin socket as well.
    pub listen: Option<String>,
    /// How often the gauges read from the database and the pool are refreshed.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: None,
            refresh_interval: Duration::from_secs(15),
        }
    }
}

impl MetricsConfig {
    pub fn listen_addr(&self) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        let Some(listen) = &self.listen else {
            return Ok(None);
        };
        let addr: std::net::SocketAddr = listen
            .parse()
            .map_err(|e| invalid(format!("metrics.listen {listen:?}: {e}")))?;
        if !addr.ip().is_loopback() {
            return Err(invalid(format!(
                "metrics.listen {listen:?} must be a loopback address (127.0.0.0/8 or [::1])"
            )));
        }
        Ok(Some(addr))
    }
}

impl Config {
    /// Layers defaults, the file (when it exists or was named), and the environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::from_figment(Self::figment(path)?)
    }

    /// The layered sources, before extraction.
    pub fn figment(path: Option<&Path>) -> Result<Figment, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match path {
            Some(p) => {
                if !p.exists() {
                    return Err(invalid(format!(
                        "config file {} does not exist",
                        p.display()
                    )));
                }
                figment = figment.merge(Toml::file_exact(p));
            }
            None if Path::new(DEFAULT_PATH).exists() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_PATH))
            }
            None => {}
        }
        Ok(figment.merge(env_overrides()))
    }

    /// Defaults plus this TOML; no environment. For tests and embedding (the demo).
    pub fn from_toml_str(toml: &str) -> Result<Config, ConfigError> {
        Self::from_figment(
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(toml)),
        )
    }

    fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let mut config: Config = figment.extract()?;
        config.resolve_secrets()?;
        config.validate()?;
        Ok(config)
    }

    /// Reads `*_file` secrets and systemd credentials ($CREDENTIALS_DIRECTORY). Precedence: the
    /// inline value, else the `*_file`, else the credential; an inline value together with a
    /// file is an error (which one would win is not obvious to a reader of the file).
    pub fn resolve_secrets(&mut self) -> Result<(), ConfigError> {
        resolve_secret(
            "database.password",
            &mut self.database.password,
            self.database.password_file.as_deref(),
            DATABASE_PASSWORD_CREDENTIAL,
        )
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = url::Url::parse(&self.database.url)
            .map_err(|e| invalid(format!("database.url: {e}")))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(invalid("database.url must start with postgres://"));
        }
        if url.password().is_some() {
            return Err(invalid(
                "database.url must not embed a password: use database.password_file or the \
                 database-password credential",
            ));
        }
        if self.database.pool_size < 2 {
            return Err(invalid("database.pool_size must be at least 2"));
        }
        let horizon =
            url::Url::parse(&self.horizon.url).map_err(|e| invalid(format!("horizon.url: {e}")))?;
        if !matches!(horizon.scheme(), "http" | "https") {
            return Err(invalid("horizon.url must be an http:// or https:// URL"));
        }
        if self.stellar.network.trim().is_empty() {
            return Err(invalid(
                "stellar.network must be `testnet`, `public` or a network passphrase",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for account in &self.accounts {
            let id = account.account_id()?;
            account.start()?;
            if !seen.insert(id) {
                return Err(invalid(format!("accounts: {id} is listed twice")));
            }
        }
        if self.admin.socket.as_os_str().is_empty() {
            return Err(invalid("admin.socket must be a path"));
        }
        self.admin.mode_bits()?;
        if self.admin.max_connections == 0 {
            return Err(invalid("admin.max_connections must be at least 1"));
        }
        if self.sessions.default_expiry < Duration::from_secs(60) {
            return Err(invalid("sessions.default_expiry must be at least 1m"));
        }
        if self.ingest.leader_retry < Duration::from_millis(100) {
            return Err(invalid("ingest.leader_retry must be at least 100ms"));
        }
        if self.ingest.stuck_after < Duration::from_secs(1) {
            return Err(invalid("ingest.stuck_after must be at least 1s"));
        }
        validate_cron(
            "jobs.prune_idempotency_keys",
            &self.jobs.prune_idempotency_keys,
        )?;
        tracing_subscriber::EnvFilter::builder()
            .parse(&self.log.level)
            .map_err(|e| invalid(format!("log.level {:?}: {e}", self.log.level)))?;
        self.metrics.listen_addr()?;
        if self.metrics.refresh_interval < Duration::from_secs(1) {
            return Err(invalid("metrics.refresh_interval must be at least 1s"));
        }
        Ok(())
    }

    /// The database URL with the password spliced in; never log the result.
    pub fn database_url(&self) -> Secret {
        let mut url = match url::Url::parse(&self.database.url) {
            Ok(u) => u,
            Err(_) => return Secret::new(self.database.url.clone()),
        };
        if !self.database.password.is_empty() {
            let _ = url.set_password(Some(self.database.password.expose()));
        }
        Secret::new(url.to_string())
    }

    pub fn watched_accounts(&self) -> Result<Vec<(AccountId, StartCursor)>, ConfigError> {
        self.accounts
            .iter()
            .map(|a| Ok((a.account_id()?, a.start()?)))
            .collect()
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render config: {e}"))
    }
}

/// `ORBITPAY_SECTION__KEY=value` (e.g. `ORBITPAY_DATABASE__POOL_SIZE=20`), plus
/// `ORBITPAY_ACCOUNTS='[{address="G..."}]'` for the one top-level list.
fn env_overrides() -> Env {
    // Only these names: other ORBITPAY_* variables (ORBITPAY_CONFIG, test knobs) are not keys,
    // and would otherwise be rejected as unknown.
    Env::prefixed("ORBITPAY_")
        .filter(|k| k.as_str().contains("__") || k.as_str().eq_ignore_ascii_case("accounts"))
        .split("__")
}

fn resolve_secret(
    key: &str,
    inline: &mut Secret,
    file: Option<&Path>,
    credential: &str,
) -> Result<(), ConfigError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map(|s| Secret::new(s.trim_end_matches(['\n', '\r'])))
            .map_err(|source| ConfigError::Secret {
                path: path.to_owned(),
                source,
            })
    };
    match file {
        Some(_) if !inline.is_empty() => Err(invalid(format!(
            "{key} and {key}_file are both set: keep one"
        ))),
        Some(path) => {
            *inline = read(path)?;
            Ok(())
        }
        None if inline.is_empty() => {
            if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
                let path = Path::new(&dir).join(credential);
                if path.exists() {
                    *inline = read(&path)?;
                }
            }
            Ok(())
        }
        None => Ok(()),
    }
}

/// Validates a six-field cron string with the parser settings tokio-cron-scheduler uses, so
/// what passes here schedules there.
pub fn validate_cron(key: &str, expr: &str) -> Result<(), ConfigError> {
    let fields = expr.split_whitespace().count();
    if fields != 6 {
        return Err(invalid(format!(
            "{key}: {expr:?} has {fields} fields; cron here takes six, seconds first (e.g. \"0 */5 * * * *\")"
        )));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map(|_| ())
        .map_err(|e| invalid(format!("{key}: {expr:?}: {e}")))
}

/// Paging token for "start of the ledger after `latest`": what `cursor=now` resolves to.
pub fn now_token(latest_ledger: u32) -> i64 {
    toid::ledger_start(latest_ledger.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7";

    #[test]
    fn defaults_validate() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn secret_never_renders() {
        let mut c = Config::default();
        c.database.password = Secret::new("hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!c.to_redacted_toml().contains("hunter2"));
        assert!(c.to_redacted_toml().contains("[redacted]"));
        assert!(c.database_url().expose().contains("hunter2"));
        assert!(!format!("{:?}", c.database_url()).contains("hunter2"));
    }

    #[test]
    fn mode_parsing() {
        let mut a = AdminConfig::default();
        for (m, ok) in [
            ("0660", true),
            ("600", true),
            ("0o700", true),
            ("0999", false),
            ("", false),
            ("01777", false),
        ] {
            a.mode = m.into();
            assert_eq!(a.mode_bits().is_ok(), ok, "{m}");
        }
    }

    #[test]
    fn start_cursor_forms() {
        let mut w = WatchedAccount::new(ACCOUNT);
        assert_eq!(w.start().unwrap(), StartCursor::Now);
        w.start_cursor = Some("123".into());
        assert_eq!(w.start().unwrap(), StartCursor::Token(123));
        w.start_cursor = Some("-1".into());
        assert!(w.start().is_err());
        w.start_cursor = Some("later".into());
        assert!(w.start().is_err());
    }

    #[test]
    fn cron_checks() {
        validate_cron("k", "0 */5 * * * *").unwrap();
        assert!(validate_cron("k", "*/5 * * * *").is_err());
        assert!(validate_cron("k", "0 61 * * * *").is_err());
        assert!(validate_cron("k", "every minute please ok").is_err());
    }

    #[test]
    fn password_and_file_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\n").unwrap();
        let c = Config::from_toml_str(&format!(
            "[database]\npassword_file = {:?}\n",
            f.display().to_string()
        ))
        .unwrap();
        assert_eq!(c.database.password.expose(), "s3cret");
        let err = Config::from_toml_str(&format!(
            "[database]\npassword = \"x\"\npassword_file = {:?}\n",
            f.display().to_string()
        ))
        .unwrap_err();
        assert!(err.to_string().contains("both set"), "{err}");
    }
}
