//! Transaction hashes and operation ids (TOIDs).

use std::fmt;
use std::str::FromStr;

use crate::account::serde_via_str;

/// A transaction hash. Horizon only answers lowercase hex, so that is the one text form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxHash([u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a transaction hash (64 hex characters)")]
pub struct TxHashError(String);

impl TxHash {
    pub const fn from_bytes(b: [u8; 32]) -> Self {
        TxHash(b)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromStr for TxHash {
    type Err = TxHashError;

    /// Accepts either case (wallets print both) and normalises to lowercase.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        if s.len() != 64 || hex::decode_to_slice(s, &mut out).is_err() {
            return Err(TxHashError(s.chars().take(80).collect()));
        }
        Ok(TxHash(out))
    }
}

impl fmt::Display for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxHash({self})")
    }
}

serde_via_str!(TxHash);

/// Total Order IDs: Horizon's operation ids and paging tokens,
/// `ledger << 32 | tx_order << 12 | op_index`.
pub mod toid {
    /// `tx_order` is 20 bits and `op_index` 12 bits; both start at 1 on Horizon.
    pub const fn encode(ledger: u32, tx_order: u32, op_index: u32) -> i64 {
        ((ledger as i64) << 32)
            | (((tx_order & 0xF_FFFF) as i64) << 12)
            | ((op_index & 0xFFF) as i64)
    }

    /// The ledger a paging token points into: what retention and reset checks compare.
    pub const fn ledger(token: i64) -> u32 {
        (token >> 32) as u32
    }

    /// The first token after every operation of `ledger`'s predecessors: a cursor here resumes
    /// at the start of `ledger`.
    pub const fn ledger_start(ledger: u32) -> i64 {
        encode(ledger, 0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_normalise_to_lowercase() {
        let upper = "B9D0B2292C4E09E8EB22D036171491E87B8D2086BF8B265874C8D182CB9C9020";
        let h: TxHash = upper.parse().unwrap();
        assert_eq!(h.to_string(), upper.to_lowercase());
        assert!(upper[..63].parse::<TxHash>().is_err());
        assert!(format!("{}g", &upper[..63]).parse::<TxHash>().is_err());
        assert!(format!("0x{}", &upper[..62]).parse::<TxHash>().is_err());
    }

    #[test]
    fn toids_pack_ledger_order_and_index() {
        // A real paging token from the fixtures: ledger 27960913.
        let token: i64 = 120_092_264_608_567_297;
        assert_eq!(toid::ledger(token), (token >> 32) as u32);
        let t = toid::encode(1000, 3, 2);
        assert_eq!(toid::ledger(t), 1000);
        assert_eq!(t & 0xFFF, 2);
        assert_eq!((t >> 12) & 0xF_FFFF, 3);
        assert!(toid::ledger_start(1000) < toid::encode(1000, 1, 1));
        assert!(toid::encode(999, 0xF_FFFF, 0xFFF) < toid::ledger_start(1000));
    }
}
