//! Values kept out of logs and `check-config` output, and where they are read from.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// systemd credential names (`LoadCredential=<name>:<path>` in the unit).
pub const DATABASE_PASSWORD_CREDENTIAL: &str = "database-password";

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

pub(super) fn resolve_secret(
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
