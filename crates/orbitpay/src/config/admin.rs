//! `[admin]` and `[sessions]`: the admin socket and the payment sessions it creates.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

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
    /// Bound on a request's headers, idle time on a keep-alive connection included: tight,
    /// so silent or idle clients cannot hold connections for long.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
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
            header_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            confirm_wait: Duration::from_secs(5),
        }
    }
}

impl AdminConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.socket.as_os_str().is_empty() {
            return Err(invalid("admin.socket must be a path"));
        }
        self.mode_bits()?;
        if self.max_connections == 0 {
            return Err(invalid("admin.max_connections must be at least 1"));
        }
        if self.header_timeout.is_zero() || self.header_timeout > self.request_timeout {
            return Err(invalid(
                "admin.header_timeout must be above zero and at most admin.request_timeout",
            ));
        }
        Ok(())
    }

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

impl SessionsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.default_expiry < Duration::from_secs(60) {
            return Err(invalid("sessions.default_expiry must be at least 1m"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
