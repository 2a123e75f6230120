//! The payment session state machine.
//!
//! ```text
//!   pending ──claim──▶ processing ──settle (paid in full)──▶ paid
//!     │  ▲                 │  ▲
//!     │  │                 └──┘ another transaction's credit, short: the claim stays
//!     │  └─settle (short)──┤
//!     │  └─released: tx not found on the ledger (client report / recovery)
//!     ├──expire──▶ expired
//!     └──cancel──▶ cancelled
//! ```
//! `paid`, `expired` and `cancelled` are terminal. `processing -> processing` is the one move
//! that keeps the status: a short credit from a transaction other than the claim's adds to the
//! amount received while the claim (hash, start, source) stays as it was. [`SessionStatus::transition`] is the only
//! place a move is allowed; the store calls it before every status write.

use std::fmt;
use std::str::FromStr;

use crate::account::serde_via_str;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SessionStatus {
    Pending,
    Processing,
    Paid,
    Expired,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a session cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: SessionStatus,
    pub to: SessionStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a session status")]
pub struct UnknownStatus(String);

impl SessionStatus {
    pub const ALL: [SessionStatus; 5] = [
        SessionStatus::Pending,
        SessionStatus::Processing,
        SessionStatus::Paid,
        SessionStatus::Expired,
        SessionStatus::Cancelled,
    ];

    /// The one definition of which moves are legal.
    pub fn transition(self, to: SessionStatus) -> Result<SessionStatus, IllegalTransition> {
        use SessionStatus::*;
        match (self, to) {
            (Pending, Processing)
            | (Processing, Paid)
            | (Processing, Pending)
            | (Processing, Processing)
            | (Pending, Expired)
            | (Pending, Cancelled) => Ok(to),
            _ => Err(IllegalTransition { from: self, to }),
        }
    }

    pub fn is_terminal(self) -> bool {
        SessionStatus::ALL
            .iter()
            .all(|&to| self.transition(to).is_err())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Pending => "pending",
            SessionStatus::Processing => "processing",
            SessionStatus::Paid => "paid",
            SessionStatus::Expired => "expired",
            SessionStatus::Cancelled => "cancelled",
        }
    }
}

impl FromStr for SessionStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SessionStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.chars().take(40).collect()))
    }
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

serde_via_str!(SessionStatus);

#[cfg(test)]
mod tests {
    use super::SessionStatus::{self, *};

    #[test]
    fn every_pair_is_checked_against_the_table() {
        let allowed = [
            (Pending, Processing),
            (Processing, Paid),
            (Processing, Pending),
            (Processing, Processing),
            (Pending, Expired),
            (Pending, Cancelled),
        ];
        for from in SessionStatus::ALL {
            for to in SessionStatus::ALL {
                let result = from.transition(to);
                if allowed.contains(&(from, to)) {
                    assert_eq!(result, Ok(to), "{from} -> {to} must be allowed");
                } else {
                    let e = result.expect_err("illegal move must be an error");
                    assert_eq!((e.from, e.to), (from, to));
                }
            }
        }
    }

    #[test]
    fn terminal_states_are_exactly_paid_expired_cancelled() {
        let terminal: Vec<_> = SessionStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(terminal, vec![Paid, Expired, Cancelled]);
    }

    #[test]
    fn names_round_trip() {
        for s in SessionStatus::ALL {
            assert_eq!(s.as_str().parse(), Ok(s));
        }
        assert!("PAID".parse::<SessionStatus>().is_err());
    }
}
