//! `[database]`: the PostgreSQL connection, pool and session limits.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Secret, invalid};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Without a password; the password comes from `password`, `password_file` or the systemd
    /// credential `database-password`, and is spliced in at connect time. TLS is libpq's, in
    /// the URL: `?sslmode=verify-full&sslrootcert=/etc/orbitpay/db-ca.pem` (and `sslcert`,
    /// `sslkey` for a client certificate); see `orbitpay_store::tls`.
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
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let url = url::Url::parse(&self.url).map_err(|e| invalid(format!("database.url: {e}")))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(invalid("database.url must start with postgres://"));
        }
        if url.password().is_some() {
            return Err(invalid(
                "database.url must not embed a password: use database.password_file or the \
                 database-password credential",
            ));
        }
        if self.pool_size < 2 {
            return Err(invalid("database.pool_size must be at least 2"));
        }
        self.tls()?;
        Ok(())
    }

    /// The URL's TLS options. Their files are read by [`DatabaseConfig::check_tls`], not here:
    /// the admin CLI loads this configuration too, as a user who may not read the daemon's key.
    pub fn tls(&self) -> Result<orbitpay_store::tls::TlsOptions, ConfigError> {
        orbitpay_store::tls::TlsOptions::from_database_url(&self.url)
            .map_err(|e| invalid(format!("database.url: {e}")))
    }

    /// The TLS options with their files read (CA, client certificate and key), for `serve`,
    /// `migrate` and `check-config`: a missing file is found at start.
    pub fn check_tls(&self) -> Result<orbitpay_store::tls::TlsOptions, ConfigError> {
        let tls = self.tls()?;
        tls.check()
            .map_err(|e| invalid(format!("database.url: {e}")))?;
        Ok(tls)
    }

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
