//! Standard Webhooks v1 signatures: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
//!
//! The key is the base64 part of a `whsec_` secret, decoded. The signed bytes are the body
//! bytes sent, so the body is serialized once, before signing, and never again.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";
/// The spec's bounds on the key length, in bytes.
const MIN_KEY: usize = 24;
const MAX_KEY: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("a webhook secret starts with `whsec_`")]
    MissingPrefix,
    #[error("a webhook secret is `whsec_` followed by base64")]
    NotBase64,
    #[error("a webhook secret holds 24 to 64 bytes, this one {0}")]
    Length(usize),
}

/// A signing key. `Debug` never shows it: secrets must stay out of logs.
#[derive(Clone)]
pub struct Secret {
    key: Vec<u8>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// Parses `whsec_<base64>`; surrounding whitespace (a trailing newline in a file) is ignored.
    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        let b64 = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let key = STANDARD.decode(b64).map_err(|_| SecretError::NotBase64)?;
        if !(MIN_KEY..=MAX_KEY).contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Ok(Secret { key })
    }

    /// A fresh 32-byte secret, as `whsec_...`.
    pub fn generate() -> String {
        let key: [u8; 32] = rand::random();
        format!("{PREFIX}{}", STANDARD.encode(key))
    }

    /// One `v1,<base64>` signature.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The current secret and, during a rotation, the previous one.
#[derive(Debug, Clone)]
pub struct Signer {
    pub current: Secret,
    pub previous: Option<Secret>,
}

/// The three headers of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub id: String,
    pub timestamp: i64,
    /// Space-separated when two secrets are live, so a receiver holding either verifies.
    pub signature: String,
}

impl Signer {
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> SignedHeaders {
        let mut signature = self.current.sign(id, timestamp, body);
        if let Some(previous) = &self.previous {
            signature.push(' ');
            signature.push_str(&previous.sign(id, timestamp, body));
        }
        SignedHeaders {
            id: id.to_owned(),
            timestamp,
            signature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_bounds_and_prefix() {
        assert_eq!(
            Secret::parse("abc").unwrap_err(),
            SecretError::MissingPrefix
        );
        assert_eq!(
            Secret::parse("whsec_!!!").unwrap_err(),
            SecretError::NotBase64
        );
        let short = format!("whsec_{}", STANDARD.encode([7u8; 23]));
        assert_eq!(Secret::parse(&short).unwrap_err(), SecretError::Length(23));
        let long = format!("whsec_{}", STANDARD.encode([7u8; 65]));
        assert_eq!(Secret::parse(&long).unwrap_err(), SecretError::Length(65));
        for n in [24, 64] {
            let ok = format!("whsec_{}\n", STANDARD.encode(vec![7u8; n]));
            assert!(Secret::parse(&ok).is_ok());
        }
        assert!(Secret::parse(&Secret::generate()).is_ok());
    }

    #[test]
    fn debug_hides_the_key() {
        let s = Secret::parse(&format!("whsec_{}", STANDARD.encode([0x41u8; 24]))).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("QUFB"), "{shown}");
    }
}
