//! Stellar addresses: G accounts, M muxed accounts (SEP-23) and C contracts.
//!
//! Validation (base32, version byte, CRC16 checksum) is delegated to `stellar-strkey`; these
//! types only give each kind a name so a contract address can never be mistaken for an account.

use std::fmt;
use std::str::FromStr;

use stellar_strkey::{Contract, ed25519};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a valid {expected} address")]
pub struct AddressError {
    pub input: String,
    pub expected: &'static str,
}

fn err(input: &str, expected: &'static str) -> AddressError {
    AddressError {
        input: input.chars().take(80).collect(),
        expected,
    }
}

macro_rules! serde_via_str {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use serde_via_str;

/// An ed25519 account (`G...`): the only kind that can receive classic payments.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId([u8; 32]);

impl AccountId {
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        AccountId(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromStr for AccountId {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ed25519::PublicKey::from_string(s)
            .map(|k| AccountId(k.0))
            .map_err(|_| err(s, "G account"))
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&ed25519::PublicKey(self.0), f)
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({self})")
    }
}

serde_via_str!(AccountId);

/// A muxed account (`M...`): a G account plus a u64 id. orbitpay hands one out per session so
/// the customer's wallet carries the session reference inside the destination itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MuxedAccount {
    pub account: AccountId,
    pub id: u64,
}

impl MuxedAccount {
    pub fn new(account: AccountId, id: u64) -> Self {
        MuxedAccount { account, id }
    }
}

impl FromStr for MuxedAccount {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ed25519::MuxedAccount::from_string(s)
            .map(|m| MuxedAccount {
                account: AccountId(m.ed25519),
                id: m.id,
            })
            .map_err(|_| err(s, "M muxed account"))
    }
}

impl fmt::Display for MuxedAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = ed25519::MuxedAccount {
            ed25519: self.account.0,
            id: self.id,
        };
        fmt::Display::fmt(&m, f)
    }
}

impl fmt::Debug for MuxedAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MuxedAccount({self})")
    }
}

serde_via_str!(MuxedAccount);

/// A Soroban contract (`C...`). A SAC transfer may name one as sender or receiver.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContractId([u8; 32]);

impl ContractId {
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        ContractId(bytes)
    }
}

impl FromStr for ContractId {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Contract::from_string(s)
            .map(|c| ContractId(c.0))
            .map_err(|_| err(s, "C contract"))
    }
}

impl fmt::Display for ContractId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Contract(self.0), f)
    }
}

impl fmt::Debug for ContractId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContractId({self})")
    }
}

serde_via_str!(ContractId);

/// Any party a payment record can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Address {
    Account(AccountId),
    Muxed(MuxedAccount),
    Contract(ContractId),
}

impl Address {
    /// The G account that holds the funds, for accounts and muxed accounts.
    pub fn account(&self) -> Option<AccountId> {
        match self {
            Address::Account(a) => Some(*a),
            Address::Muxed(m) => Some(m.account),
            Address::Contract(_) => None,
        }
    }

    pub fn muxed_id(&self) -> Option<u64> {
        match self {
            Address::Muxed(m) => Some(m.id),
            _ => None,
        }
    }
}

impl From<AccountId> for Address {
    fn from(a: AccountId) -> Self {
        Address::Account(a)
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.as_bytes().first() {
            Some(b'G') => s.parse().map(Address::Account),
            Some(b'M') => s.parse().map(Address::Muxed),
            Some(b'C') => s.parse().map(Address::Contract),
            _ => Err(err(s, "G, M or C")),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Account(a) => a.fmt(f),
            Address::Muxed(m) => m.fmt(f),
            Address::Contract(c) => c.fmt(f),
        }
    }
}

serde_via_str!(Address);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Real addresses from fixtures/horizon.
    const USDC_ISSUER: &str = "GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN";
    const FEE_BUMP_SOURCE: &str = "GA5ZPIVPAXEG5LMHTKF4PJZ52K5YFUUBSHL746TINKJ7GNMG4KYF3S4R";
    const FEE_BUMP_MUXED: &str =
        "MA5ZPIVPAXEG5LMHTKF4PJZ52K5YFUUBSHL746TINKJ7GNMG4KYF2AAACOBCKABHCTRYY";

    #[test]
    fn real_accounts_round_trip() {
        for g in [USDC_ISSUER, FEE_BUMP_SOURCE] {
            let a: AccountId = g.parse().unwrap();
            assert_eq!(a.to_string(), g);
        }
    }

    #[test]
    fn a_real_muxed_address_decodes_to_its_account_and_id() {
        let m: MuxedAccount = FEE_BUMP_MUXED.parse().unwrap();
        assert_eq!(m.account.to_string(), FEE_BUMP_SOURCE);
        assert_eq!(m.id, 21_449_687_443_220);
        assert_eq!(m.to_string(), FEE_BUMP_MUXED);
    }

    #[test]
    fn a_flipped_character_breaks_the_checksum() {
        let mut bad = USDC_ISSUER.to_owned();
        bad.replace_range(10..11, if &bad[10..11] == "A" { "B" } else { "A" });
        assert!(bad.parse::<AccountId>().is_err());
        let mut bad_m = FEE_BUMP_MUXED.to_owned();
        bad_m.replace_range(60..61, if &bad_m[60..61] == "A" { "B" } else { "A" });
        assert!(bad_m.parse::<MuxedAccount>().is_err());
    }

    #[test]
    fn kinds_are_not_interchangeable() {
        assert!(FEE_BUMP_MUXED.parse::<AccountId>().is_err());
        assert!(USDC_ISSUER.parse::<MuxedAccount>().is_err());
        assert!(USDC_ISSUER.parse::<ContractId>().is_err());
        assert!("".parse::<Address>().is_err());
        assert!(USDC_ISSUER.to_lowercase().parse::<AccountId>().is_err());
        assert!(format!(" {USDC_ISSUER}").parse::<AccountId>().is_err());
    }

    #[test]
    fn address_dispatches_on_prefix() {
        let c = ContractId::from_bytes([7; 32]).to_string();
        assert!(c.starts_with('C'));
        assert!(matches!(c.parse::<Address>(), Ok(Address::Contract(_))));
        assert_eq!(
            FEE_BUMP_MUXED
                .parse::<Address>()
                .unwrap()
                .account()
                .unwrap()
                .to_string(),
            FEE_BUMP_SOURCE
        );
    }

    proptest! {
        #[test]
        fn muxed_encode_decode_round_trips(key in any::<[u8; 32]>(),
                                           id in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()]) {
            let m = MuxedAccount::new(AccountId::from_bytes(key), id);
            let s = m.to_string();
            prop_assert!(s.starts_with('M'));
            prop_assert_eq!(s.parse::<MuxedAccount>(), Ok(m));
        }
    }
}
