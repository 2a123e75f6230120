//! Daemon configuration: TOML (`/etc/orbitpay/orbitpay.toml` by default) with
//! `ORBITPAY_SECTION__KEY` environment overrides. Unknown keys are errors, so a typo never
//! silently falls back to a default on the money path.
//!
//! Layers, later wins: built-in defaults ([`Config::default`], documented key by key in
//! `config/default.toml`), the file, then the environment. Secrets (the database password; the
//! webhook secrets when webhooks land) come from the file, a `*_file` key, or the systemd
//! credential directory (`$CREDENTIALS_DIRECTORY/<name>`, from `LoadCredential=`), and are
//! wrapped in [`Secret`] so `Debug`, logs and `check-config` show `[redacted]`.

mod admin;
mod database;
mod ingest;
mod jobs;
mod network;
mod refunds;
mod secret;
mod telemetry;
mod webhooks;

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use orbitpay_core::AccountId;
use serde::{Deserialize, Serialize};

pub use admin::{AdminConfig, SessionsConfig};
pub use database::DatabaseConfig;
pub use ingest::{IngestConfig, IngestMode};
pub use jobs::{JobsConfig, validate_cron};
pub use network::{
    HorizonSection, PUBLIC_PASSPHRASE, StartCursor, StellarConfig, TESTNET_PASSPHRASE,
    WatchedAccount,
};
// Start cursors built for config and the follower's own "now" are one definition.
pub use orbitpay_horizon::now_token;
pub use refunds::RefundsConfig;
use secret::resolve_secret;
pub use secret::{DATABASE_PASSWORD_CREDENTIAL, Secret};
pub use telemetry::{LogConfig, LogFormat, MetricsConfig};
pub use webhooks::{WEBHOOK_PREVIOUS_SECRET_CREDENTIAL, WEBHOOK_SECRET_CREDENTIAL, WebhooksConfig};

pub const DEFAULT_PATH: &str = "/etc/orbitpay/orbitpay.toml";

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
    pub refunds: RefundsConfig,
    pub ingest: IngestConfig,
    pub jobs: JobsConfig,
    pub webhooks: WebhooksConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
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
        )?;
        self.webhooks.resolve_secrets()
    }

    /// Each section checks itself, in the order of the file.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.database.validate()?;
        self.horizon.validate()?;
        self.stellar.validate()?;
        network::validate_accounts(&self.accounts)?;
        self.admin.validate()?;
        self.sessions.validate()?;
        self.refunds.validate()?;
        self.ingest.validate()?;
        self.jobs.validate()?;
        self.webhooks.validate()?;
        self.log.validate()?;
        self.metrics.validate()
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

#[cfg(test)]
mod tests {
    use super::*;

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
