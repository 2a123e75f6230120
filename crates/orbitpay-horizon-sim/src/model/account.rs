//! Account entries as `GET /accounts/{id}` serves them: balances (native and trustlines with
//! their limits) and the sequence number.
//!
//! Balances are scripted ([`crate::HorizonSim::set_native_balance`],
//! [`crate::HorizonSim::set_trustline`]), not moved by the payments the ledger closes: a test
//! says exactly what a destination can receive. The sequence number is the ledger's own
//! (`Ledger::sequences`), bumped by every transaction the account is the source of, so an
//! envelope built on a read sequence goes stale when the account sends anything.

use orbitpay_core::{Amount, Asset};

/// The default native balance of an account nobody scripted: 10,000 XLM.
pub(crate) const DEFAULT_NATIVE: i64 = 10_000 * 10_000_000;

/// Horizon's limit for a trustline opened without one (i64::MAX stroops).
pub(crate) const MAX_LIMIT: i64 = i64::MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Trustline {
    pub asset: Asset,
    pub balance: Amount,
    pub limit: Amount,
}

/// What an account holds, as scripted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountState {
    pub native: Amount,
    /// In the order they were opened; Horizon lists trustlines first, native last.
    pub trustlines: Vec<Trustline>,
}

impl Default for AccountState {
    fn default() -> Self {
        AccountState {
            native: Amount::from_stroops(DEFAULT_NATIVE).expect("positive"),
            trustlines: Vec::new(),
        }
    }
}

impl AccountState {
    /// Opens or replaces the trustline for `asset`.
    pub fn set_trustline(&mut self, asset: Asset, balance: Amount, limit: Amount) {
        let line = Trustline {
            asset,
            balance,
            limit,
        };
        match self.trustlines.iter_mut().find(|t| t.asset == line.asset) {
            Some(t) => *t = line,
            None => self.trustlines.push(line),
        }
    }

    pub fn remove_trustline(&mut self, asset: &Asset) {
        self.trustlines.retain(|t| &t.asset != asset);
    }
}
