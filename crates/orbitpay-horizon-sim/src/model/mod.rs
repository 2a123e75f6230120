//! The modelled ledger: transactions and operations as the simulator's scripts build them, and
//! the indexes Horizon's endpoints are answered from.

mod account;
mod ledger;
mod op;
mod tx;

use orbitpay_core::{AccountId, Address, Amount, ContractId, MuxedAccount};
use sha2::{Digest, Sha256};

pub(crate) use account::{AccountState, MAX_LIMIT};
pub use ledger::{ClosedLedger, ClosedTx};
pub(crate) use ledger::{Ledger, PaymentRef, Scope, StoredTx};
pub use op::{Op, OpKind};
pub use tx::Tx;

/// Anything that names a party in a simulated operation: `AccountId`, `MuxedAccount`,
/// `ContractId`, `Address`, or a `&str`/`String` strkey (`G…`, `M…`, `C…`; panics if invalid,
/// as this is a test-script convenience).
pub trait IntoAddress {
    fn into_address(self) -> Address;
}

impl IntoAddress for Address {
    fn into_address(self) -> Address {
        self
    }
}
impl IntoAddress for AccountId {
    fn into_address(self) -> Address {
        Address::Account(self)
    }
}
impl IntoAddress for &AccountId {
    fn into_address(self) -> Address {
        Address::Account(*self)
    }
}
impl IntoAddress for MuxedAccount {
    fn into_address(self) -> Address {
        Address::Muxed(self)
    }
}
impl IntoAddress for ContractId {
    fn into_address(self) -> Address {
        Address::Contract(self)
    }
}
impl IntoAddress for &str {
    fn into_address(self) -> Address {
        self.parse()
            .unwrap_or_else(|e| panic!("not a G/M/C address: {self:?}: {e}"))
    }
}
impl IntoAddress for String {
    fn into_address(self) -> Address {
        self.as_str().into_address()
    }
}

/// Builds an [`Amount`] from stroops (1 unit = 10,000,000 stroops). Panics on a negative value.
pub fn stroops(n: i64) -> Amount {
    Amount::from_stroops(n).expect("stroops must be non-negative")
}

/// Builds an [`Amount`] of whole units (`units(12)` prints as `"12.0000000"`).
pub fn units(n: i64) -> Amount {
    stroops(n.checked_mul(10_000_000).expect("amount overflow"))
}

/// A deterministic account derived from `(seed, index)`: handy for tests that need many
/// distinct, valid `G…` addresses.
pub fn derive_account(seed: u64, index: u64) -> AccountId {
    AccountId::from_bytes(sha(&[
        b"account",
        &seed.to_be_bytes(),
        &index.to_be_bytes(),
    ]))
}

/// A deterministic contract id derived from `(seed, index)`.
pub fn derive_contract(seed: u64, index: u64) -> ContractId {
    ContractId::from_bytes(sha(&[
        b"contract",
        &seed.to_be_bytes(),
        &index.to_be_bytes(),
    ]))
}

pub(crate) fn sha(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

fn require_account(a: &Address, what: &str) {
    assert!(
        !matches!(a, Address::Contract(_)),
        "{what} cannot be a contract (C…) address in this operation type"
    );
}
