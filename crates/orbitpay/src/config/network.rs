//! `[horizon]`, `[stellar]` and `[[accounts]]`: where payments are read from and for whom.

use std::str::FromStr;
use std::time::Duration;

use orbitpay_core::AccountId;
use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

pub const TESTNET_PASSPHRASE: &str = "Test SDF Network ; September 2015";
pub const PUBLIC_PASSPHRASE: &str = "Public Global Stellar Network ; September 2015";

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
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let horizon =
            url::Url::parse(&self.url).map_err(|e| invalid(format!("horizon.url: {e}")))?;
        if !matches!(horizon.scheme(), "http" | "https") {
            return Err(invalid("horizon.url must be an http:// or https:// URL"));
        }
        Ok(())
    }

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
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.network.trim().is_empty() {
            return Err(invalid(
                "stellar.network must be `testnet`, `public` or a network passphrase",
            ));
        }
        Ok(())
    }

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

/// Each address parses, each start cursor too, and no account is listed twice.
pub(super) fn validate_accounts(accounts: &[WatchedAccount]) -> Result<(), ConfigError> {
    let mut seen = std::collections::HashSet::new();
    for account in accounts {
        let id = account.account_id()?;
        account.start()?;
        if !seen.insert(id) {
            return Err(invalid(format!("accounts: {id} is listed twice")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7";

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
}
