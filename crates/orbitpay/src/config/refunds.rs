//! `[refunds]`: the bounds of the unsigned refund transactions orbitpay prepares.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// The network's minimum fee for a one-operation transaction: a lower bound is never accepted.
const MIN_FEE: u32 = 100;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RefundsConfig {
    /// The transaction's fee field, in stroops: the most the merchant pays for the whole
    /// transaction (it holds one operation, so this is also the per-operation bound). The
    /// network charges only what it needs, up to this.
    pub max_fee: u32,
    /// How long a prepared envelope may land: its time bounds end this long after it was
    /// prepared (then `prepare` makes a fresh one).
    #[serde(with = "humantime_serde")]
    pub valid_for: Duration,
}

impl Default for RefundsConfig {
    fn default() -> Self {
        RefundsConfig {
            max_fee: 10_000,
            valid_for: Duration::from_secs(3600),
        }
    }
}

impl RefundsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_fee < MIN_FEE {
            return Err(invalid(format!(
                "refunds.max_fee must be at least {MIN_FEE} stroops (the network's base fee)"
            )));
        }
        if self.valid_for < Duration::from_secs(60)
            || self.valid_for > Duration::from_secs(30 * 86_400)
        {
            return Err(invalid("refunds.valid_for must be between 1m and 30d"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fee_below_the_base_fee_and_odd_validities_are_refused() {
        RefundsConfig::default().validate().unwrap();
        let low = RefundsConfig {
            max_fee: 99,
            ..RefundsConfig::default()
        };
        assert!(low.validate().is_err());
        for secs in [59, 31 * 86_400] {
            let odd = RefundsConfig {
                valid_for: Duration::from_secs(secs),
                ..RefundsConfig::default()
            };
            assert!(odd.validate().is_err(), "{secs}");
        }
    }
}
