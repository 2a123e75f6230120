//! Assets: native XLM or a credit asset named by code AND issuer.
//!
//! Anyone can issue "USDC"; only the issuer makes it the merchant's USDC. Equality is therefore
//! over both fields, and the text form always carries the issuer.

use std::fmt;
use std::str::FromStr;

use crate::account::{AccountId, serde_via_str};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetError {
    #[error("asset {0:?} must be `native` or `CODE:ISSUER`")]
    Malformed(String),
    #[error("asset code {0:?} must be 1-12 ASCII letters or digits")]
    BadCode(String),
    #[error("asset issuer {0:?} is not a valid G account")]
    BadIssuer(String),
    #[error("asset type {asset_type:?} does not fit code {code:?}")]
    TypeMismatch { asset_type: String, code: String },
}

/// A credit asset code: 1-4 characters (alphanum4) or 5-12 (alphanum12).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AssetCode(String);

impl AssetCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Horizon's `asset_type` for this code.
    pub fn asset_type(&self) -> &'static str {
        if self.0.len() <= 4 {
            "credit_alphanum4"
        } else {
            "credit_alphanum12"
        }
    }
}

impl FromStr for AssetCode {
    type Err = AssetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if (1..=12).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(AssetCode(s.to_owned()))
        } else {
            Err(AssetError::BadCode(s.chars().take(40).collect()))
        }
    }
}

impl fmt::Debug for AssetCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Asset {
    Native,
    Credit { code: AssetCode, issuer: AccountId },
}

impl Asset {
    pub fn credit(code: &str, issuer: &str) -> Result<Asset, AssetError> {
        Ok(Asset::Credit {
            code: code.parse()?,
            issuer: issuer
                .parse()
                .map_err(|_| AssetError::BadIssuer(issuer.chars().take(80).collect()))?,
        })
    }

    /// Builds an asset from Horizon's `asset_type` / `asset_code` / `asset_issuer` triple,
    /// checking that the declared type agrees with the code's length.
    pub fn from_horizon(
        asset_type: &str,
        code: Option<&str>,
        issuer: Option<&str>,
    ) -> Result<Asset, AssetError> {
        match (asset_type, code, issuer) {
            ("native", None, None) => Ok(Asset::Native),
            ("credit_alphanum4" | "credit_alphanum12", Some(code), Some(issuer)) => {
                let asset = Asset::credit(code, issuer)?;
                match &asset {
                    Asset::Credit { code, .. } if code.asset_type() == asset_type => Ok(asset),
                    _ => Err(AssetError::TypeMismatch {
                        asset_type: asset_type.to_owned(),
                        code: code.to_owned(),
                    }),
                }
            }
            _ => Err(AssetError::Malformed(format!(
                "{asset_type}:{}:{}",
                code.unwrap_or(""),
                issuer.unwrap_or("")
            ))),
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            Asset::Native => None,
            Asset::Credit { code, .. } => Some(code.as_str()),
        }
    }

    pub fn issuer(&self) -> Option<AccountId> {
        match self {
            Asset::Native => None,
            Asset::Credit { issuer, .. } => Some(*issuer),
        }
    }
}

impl FromStr for Asset {
    type Err = AssetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "native" {
            return Ok(Asset::Native);
        }
        match s.split_once(':') {
            Some((code, issuer)) if !issuer.contains(':') => Asset::credit(code, issuer),
            _ => Err(AssetError::Malformed(s.chars().take(80).collect())),
        }
    }
}

impl fmt::Display for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Asset::Native => f.write_str("native"),
            Asset::Credit { code, issuer } => write!(f, "{}:{issuer}", code.as_str()),
        }
    }
}

serde_via_str!(Asset);

#[cfg(test)]
mod tests {
    use super::*;

    const USDC: &str = "USDC:GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN";

    #[test]
    fn text_forms_round_trip() {
        for s in [
            "native",
            USDC,
            "LONGCODE1234:GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN",
        ] {
            assert_eq!(s.parse::<Asset>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn bad_assets_are_rejected_with_a_reason() {
        assert!(matches!(
            "US-DOLLAR".parse::<Asset>(),
            Err(AssetError::Malformed(_))
        ));
        assert!(matches!(
            "US-D:GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN".parse::<Asset>(),
            Err(AssetError::BadCode(_))
        ));
        assert!(matches!(
            "THIRTEENCHARS:GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN"
                .parse::<Asset>(),
            Err(AssetError::BadCode(_))
        ));
        assert!(matches!(
            ":GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVA".parse::<Asset>(),
            Err(AssetError::BadCode(_))
        ));
        assert!(matches!(
            "USDC:GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVA".parse::<Asset>(),
            Err(AssetError::BadIssuer(_))
        ));
        assert!("Native".parse::<Asset>().is_err());
        assert!("".parse::<Asset>().is_err());
    }

    #[test]
    fn same_code_different_issuer_is_a_different_asset() {
        let a: Asset = USDC.parse().unwrap();
        let b: Asset = "USDC:GBDEVU63Y6NTHJQQZIKVTC23NWLQVP3WJ2RI2OTSJTNYOIGICST6DUXR"
            .parse()
            .unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn horizon_triples_must_agree_with_the_code_length() {
        let issuer = Some("GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN");
        assert_eq!(Asset::from_horizon("native", None, None), Ok(Asset::Native));
        assert!(Asset::from_horizon("credit_alphanum4", Some("USDC"), issuer).is_ok());
        assert!(Asset::from_horizon("credit_alphanum12", Some("USDC"), issuer).is_err());
        assert!(Asset::from_horizon("credit_alphanum4", Some("LONGCODE"), issuer).is_err());
        assert!(Asset::from_horizon("credit_alphanum4", None, issuer).is_err());
        assert!(Asset::from_horizon("liquidity_pool_shares", None, None).is_err());
    }
}
