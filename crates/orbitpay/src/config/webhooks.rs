//! `[webhooks]`: where events are delivered, how they are signed, and how hard to try.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::secret::{Secret, resolve_secret};
use super::{ConfigError, invalid};

/// systemd credential names of the signing secrets (`LoadCredential=` in the unit).
pub const WEBHOOK_SECRET_CREDENTIAL: &str = "webhook-secret";
pub const WEBHOOK_PREVIOUS_SECRET_CREDENTIAL: &str = "webhook-previous-secret";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// The default endpoint; a session's `webhook_url` overrides it. Unset: only sessions that
    /// name one get webhooks.
    pub url: Option<String>,
    /// The signing secret (`whsec_...`), read from `secret_file` or the `webhook-secret`
    /// credential; never from this file (a `secret` key is refused as unknown).
    #[serde(skip)]
    pub secret: Secret,
    pub secret_file: Option<PathBuf>,
    /// During a rotation: the secret being retired, also signed with so receivers holding
    /// either verify (`webhook-previous-secret` credential otherwise).
    #[serde(skip)]
    pub previous_secret: Secret,
    pub previous_secret_file: Option<PathBuf>,
    /// Lets endpoints resolve to loopback and private addresses: development only.
    pub allow_private: bool,
    /// The whole attempt, from the DNS lookup to the last body byte.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// A delivery still failing this long after its event is dead.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// ... or after this many attempts.
    pub max_attempts: u32,
    /// Requests in flight at once to one endpoint, across all instances.
    pub concurrency: usize,
    /// How often to look for due work when no NOTIFY arrives.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            url: None,
            secret: Secret::default(),
            secret_file: None,
            previous_secret: Secret::default(),
            previous_secret_file: None,
            allow_private: false,
            timeout: Duration::from_secs(15),
            max_age: Duration::from_secs(3 * 24 * 3600),
            max_attempts: 30,
            concurrency: 4,
            poll_interval: Duration::from_secs(1),
        }
    }
}

impl WebhooksConfig {
    pub(super) fn resolve_secrets(&mut self) -> Result<(), ConfigError> {
        resolve_secret(
            "webhooks.secret",
            &mut self.secret,
            self.secret_file.as_deref(),
            WEBHOOK_SECRET_CREDENTIAL,
        )?;
        resolve_secret(
            "webhooks.previous_secret",
            &mut self.previous_secret,
            self.previous_secret_file.as_deref(),
            WEBHOOK_PREVIOUS_SECRET_CREDENTIAL,
        )
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.url {
            let parsed =
                url::Url::parse(url).map_err(|e| invalid(format!("webhooks.url {url:?}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(invalid(format!(
                    "webhooks.url {url:?}: must be http or https"
                )));
            }
            if self.secret.is_empty() {
                return Err(invalid(
                    "webhooks.url is set but there is no signing secret: set webhooks.secret_file \
                     or the systemd credential webhook-secret",
                ));
            }
        }
        for (key, secret) in [
            ("webhooks.secret", &self.secret),
            ("webhooks.previous_secret", &self.previous_secret),
        ] {
            if !secret.is_empty() {
                // The parse error names the rule, never the secret.
                orbitpay_webhooks::Secret::parse(secret.expose())
                    .map_err(|e| invalid(format!("{key}: {e}")))?;
            }
        }
        if self.secret.is_empty() && !self.previous_secret.is_empty() {
            return Err(invalid(
                "webhooks.previous_secret is set without a current secret",
            ));
        }
        if self.timeout < Duration::from_millis(100) {
            return Err(invalid("webhooks.timeout must be at least 100ms"));
        }
        if self.max_attempts == 0 {
            return Err(invalid("webhooks.max_attempts must be at least 1"));
        }
        if self.concurrency == 0 {
            return Err(invalid("webhooks.concurrency must be at least 1"));
        }
        if self.poll_interval < Duration::from_millis(10) {
            return Err(invalid("webhooks.poll_interval must be at least 10ms"));
        }
        Ok(())
    }

    /// The signer, when a secret is configured: without one nothing is delivered.
    pub fn signer(&self) -> Option<orbitpay_webhooks::Signer> {
        let parse = |s: &Secret| orbitpay_webhooks::Secret::parse(s.expose()).ok();
        Some(orbitpay_webhooks::Signer {
            current: parse(&self.secret)?,
            previous: parse(&self.previous_secret),
        })
    }

    pub fn dispatcher_config(&self) -> orbitpay_webhooks::DispatcherConfig {
        let mut c = orbitpay_webhooks::DispatcherConfig {
            timeout: self.timeout,
            poll_interval: self.poll_interval,
            per_endpoint: self.concurrency,
            allow_private: self.allow_private,
            ..Default::default()
        };
        c.retry.max_age = self.max_age;
        c.retry.max_attempts = self.max_attempts;
        c.concurrency = c.concurrency.max(self.concurrency);
        c
    }
}
