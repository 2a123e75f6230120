//! The matching rules: what a ledger record means for a watched account, which session it
//! names, and what settling it does. Pure functions; the store applies their answers inside
//! its transactions.

use std::fmt;
use std::str::FromStr;

use crate::account::serde_via_str;
use crate::{
    AccountId, Address, Amount, Asset, ContractAmount, LedgerRecord, Memo, Operation, Reference,
    SessionStatus, TxHash,
};

/// Money that arrived at the watched account in one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub amount: Amount,
    pub asset: Asset,
    pub from: Option<Address>,
    /// The muxed id the sender paid to, if any.
    pub muxed_id: Option<u64>,
}

/// Why a record is not a credit. Ignored records are counted, and the cursor moves past them
/// with the next commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IgnoreReason {
    FailedTransaction,
    Outgoing,
    SelfPayment,
    /// The account only took part (sponsor, fee source, third party of a contract call).
    NotRecipient,
    ZeroAmount,
}

impl IgnoreReason {
    pub fn as_str(self) -> &'static str {
        match self {
            IgnoreReason::FailedTransaction => "failed_transaction",
            IgnoreReason::Outgoing => "outgoing",
            IgnoreReason::SelfPayment => "self_payment",
            IgnoreReason::NotRecipient => "not_recipient",
            IgnoreReason::ZeroAmount => "zero_amount",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interpretation {
    Ignored(IgnoreReason),
    Credit(Credit),
    /// Recorded as `unsupported_operation` and skipped; never stops the stream.
    Uninterpretable {
        reason: String,
        /// What is still known of the money: a contract transfer past i64 stroops.
        contract: Option<ContractCredit>,
    },
}

/// Money a contract transfer brought that an i64 [`Amount`] cannot hold: recorded (its i128
/// amount exactly), never credited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractCredit {
    pub amount: ContractAmount,
    pub asset: Asset,
    pub from: Option<Address>,
    pub muxed_id: Option<u64>,
}

/// Reads one record from the point of view of `watched`.
pub fn interpret(record: &LedgerRecord, watched: &AccountId) -> Interpretation {
    use Interpretation::*;
    if !record.successful {
        return Ignored(IgnoreReason::FailedTransaction);
    }
    let is_watched = |a: &Address| a.account().as_ref() == Some(watched);
    let direction = |from: bool, to: bool| match (from, to) {
        (true, true) => Some(IgnoreReason::SelfPayment),
        (true, false) => Some(IgnoreReason::Outgoing),
        (false, false) => Some(IgnoreReason::NotRecipient),
        (false, true) => None,
    };
    let credit = |amount: Amount, asset: Asset, from: Option<Address>, muxed_id: Option<u64>| {
        if amount.is_zero() {
            Ignored(IgnoreReason::ZeroAmount)
        } else {
            Credit(self::Credit {
                amount,
                asset,
                from,
                muxed_id,
            })
        }
    };
    match &record.operation {
        Operation::Transfer {
            from,
            to,
            asset,
            amount,
            ..
        } => match direction(is_watched(from), is_watched(to)) {
            Some(reason) => Ignored(reason),
            None => credit(*amount, asset.clone(), Some(*from), to.muxed_id()),
        },
        Operation::CreateAccount {
            funder,
            account,
            starting_balance,
        } => match direction(funder == watched, account == watched) {
            Some(reason) => Ignored(reason),
            None => credit(
                *starting_balance,
                Asset::Native,
                Some(Address::Account(*funder)),
                None,
            ),
        },
        Operation::AccountMerge {
            account,
            into,
            amount,
        } => match direction(is_watched(account), is_watched(into)) {
            Some(reason) => Ignored(reason),
            None => match amount {
                Some(amount) => credit(*amount, Asset::Native, Some(*account), into.muxed_id()),
                None => Uninterpretable {
                    reason: "account_merge without a credited amount".into(),
                    contract: None,
                },
            },
        },
        Operation::ContractTransfers { changes } => {
            let incoming: Vec<_> = changes
                .iter()
                .filter(|c| c.to.as_ref().is_some_and(is_watched))
                .collect();
            let Some(first) = incoming.first() else {
                let outgoing = changes
                    .iter()
                    .any(|c| c.from.as_ref().is_some_and(is_watched));
                return Ignored(if outgoing {
                    IgnoreReason::Outgoing
                } else {
                    IgnoreReason::NotRecipient
                });
            };
            if incoming
                .iter()
                .all(|c| c.from.as_ref().is_some_and(is_watched))
            {
                return Ignored(IgnoreReason::SelfPayment);
            }
            let muxed = |c: &crate::BalanceChange| {
                c.destination_muxed_id.or(c.to.and_then(|t| t.muxed_id()))
            };
            if incoming
                .iter()
                .any(|c| c.asset != first.asset || muxed(c) != muxed(first))
            {
                return Uninterpretable {
                    reason: "one operation credits several assets or references".into(),
                    contract: None,
                };
            }
            let total = incoming
                .iter()
                .try_fold(0i128, |acc, c| acc.checked_add(c.amount.stroops()))
                .and_then(|t| ContractAmount::from_stroops(t).ok());
            match total.map(|t| (t, Amount::try_from(t))) {
                Some((_, Ok(amount))) => {
                    credit(amount, first.asset.clone(), first.from, muxed(first))
                }
                Some((total, Err(_))) => Uninterpretable {
                    reason: "contract transfer amount out of range".into(),
                    contract: Some(ContractCredit {
                        amount: total,
                        asset: first.asset.clone(),
                        from: first.from,
                        muxed_id: muxed(first),
                    }),
                },
                None => Uninterpretable {
                    reason: "contract transfer amount out of range".into(),
                    contract: None,
                },
            }
        }
        // A claimable balance credits nobody until claimed (another operation).
        Operation::CreateClaimableBalance { source, .. } => Ignored(if is_watched(source) {
            IgnoreReason::Outgoing
        } else {
            IgnoreReason::NotRecipient
        }),
        Operation::Unsupported { op_type, reason } => Uninterpretable {
            reason: format!("{op_type}: {reason}"),
            contract: None,
        },
    }
}

/// Money the watched account sent in one operation, as a refund would send it: a payment or
/// path payment (`to`, and the asset and amount the receiver got), or a claimable balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Whom it pays. For a claimable balance, its one claimant other than the sender; `None`
    /// when it names several (it can then complete no refund).
    pub to: Option<Address>,
    pub asset: Asset,
    pub amount: Amount,
    pub claimable_balance: bool,
}

/// The money `watched` sends in `record`, when it is the kind a refund sends: only for a
/// record [`interpret`] ignores as [`IgnoreReason::Outgoing`]. Contract transfers, account
/// creations and merges are never refunds.
pub fn outgoing(record: &LedgerRecord, watched: &AccountId) -> Option<Outgoing> {
    if interpret(record, watched) != Interpretation::Ignored(IgnoreReason::Outgoing) {
        return None;
    }
    match &record.operation {
        Operation::Transfer {
            to, asset, amount, ..
        } => Some(Outgoing {
            to: Some(*to),
            asset: asset.clone(),
            amount: *amount,
            claimable_balance: false,
        }),
        Operation::CreateClaimableBalance {
            asset,
            amount,
            claimants,
            ..
        } => {
            let mut others = claimants.iter().filter(|c| *c != watched);
            let to = match (others.next(), others.next()) {
                (Some(one), None) => Some(Address::Account(*one)),
                _ => None,
            };
            Some(Outgoing {
                to,
                asset: asset.clone(),
                amount: *amount,
                claimable_balance: true,
            })
        }
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceLookup {
    Found(Reference),
    /// The muxed id and the memo name different sessions: held for review.
    Ambiguous {
        muxed_id: u64,
        memo: Reference,
    },
    Missing,
}

/// The session reference a payment carries: its muxed id, a memo id, or a text memo whose
/// exact bytes are the decimal reference.
pub fn reference_of(muxed_id: Option<u64>, memo: &Memo) -> ReferenceLookup {
    let from_memo = match memo {
        Memo::Id(id) => Some(Reference(*id)),
        Memo::Text(text) => Reference::from_memo_text(text),
        Memo::None | Memo::Hash(_) | Memo::Return(_) => None,
    };
    match (muxed_id, from_memo) {
        (Some(m), Some(memo)) if Reference(m) != memo => {
            ReferenceLookup::Ambiguous { muxed_id: m, memo }
        }
        (Some(m), _) => ReferenceLookup::Found(Reference(m)),
        (None, Some(memo)) => ReferenceLookup::Found(memo),
        (None, None) => ReferenceLookup::Missing,
    }
}

/// Why a credit did not go to a session. Stored with the credit in `unmatched_payments`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnmatchedReason {
    NoReference,
    UnknownReference,
    WrongAsset,
    AlreadyPaid,
    SessionExpired,
    SessionCancelled,
    AmbiguousReference,
    UnsupportedOperation,
    /// Crediting it would take the session's `amount_received` past i64 stroops.
    AmountOverflow,
}

impl UnmatchedReason {
    pub const ALL: [UnmatchedReason; 9] = [
        UnmatchedReason::NoReference,
        UnmatchedReason::UnknownReference,
        UnmatchedReason::WrongAsset,
        UnmatchedReason::AlreadyPaid,
        UnmatchedReason::SessionExpired,
        UnmatchedReason::SessionCancelled,
        UnmatchedReason::AmbiguousReference,
        UnmatchedReason::UnsupportedOperation,
        UnmatchedReason::AmountOverflow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UnmatchedReason::NoReference => "no_reference",
            UnmatchedReason::UnknownReference => "unknown_reference",
            UnmatchedReason::WrongAsset => "wrong_asset",
            UnmatchedReason::AlreadyPaid => "already_paid",
            UnmatchedReason::SessionExpired => "session_expired",
            UnmatchedReason::SessionCancelled => "session_cancelled",
            UnmatchedReason::AmbiguousReference => "ambiguous_reference",
            UnmatchedReason::UnsupportedOperation => "unsupported_operation",
            UnmatchedReason::AmountOverflow => "amount_overflow",
        }
    }

    /// Money that reached a real session too late, as opposed to money for no session.
    pub fn is_late_payment(self) -> bool {
        matches!(
            self,
            UnmatchedReason::AlreadyPaid
                | UnmatchedReason::SessionExpired
                | UnmatchedReason::SessionCancelled
        )
    }
}

impl FromStr for UnmatchedReason {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UnmatchedReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown reason {s:?}"))
    }
}

impl fmt::Display for UnmatchedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

serde_via_str!(UnmatchedReason);

/// The parts of a locked session row that decide a credit's fate.
#[derive(Debug, Clone, Copy)]
pub struct SessionView<'a> {
    pub status: SessionStatus,
    pub asset: &'a Asset,
    pub processing_tx_hash: Option<TxHash>,
    /// This transaction already has a payment on the session (an earlier operation of it).
    pub credited_by_tx: bool,
    /// When the session stops taking payments, in unix microseconds (the database keeps
    /// microseconds). Compared with the ledger's close time, never with a clock.
    pub expires_at_us: i64,
}

/// Whether a payment in `record` comes after `expires_at_us` (unix microseconds): its ledger
/// closed strictly after it. The close time is the ledger's, so a payment seen hours late (a
/// catch-up after downtime) that closed in time is on time. A record whose source gave no
/// close time is never late by this rule; the expiry sweep still closes the session once
/// ingestion has passed its expiry.
pub fn closed_after(record: &LedgerRecord, expires_at_us: i64) -> bool {
    record
        .closed_at
        .is_some_and(|secs| i128::from(secs) * 1_000_000 > i128::from(expires_at_us))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionDecision {
    /// pending: move to processing under this transaction, then settle.
    Claim,
    /// Already processing under this very transaction (a redelivery after a crash, or the
    /// confirmation of a client report, under either hash of a fee-bump): settle.
    Resume,
    /// Processing under another transaction's claim (a client report not yet confirmed, or
    /// another instance between its claim and its settle). Never waited for: this credit is
    /// settled at once, under the row lock, and the other claim stays until it resolves on its
    /// own (see [`settle`]).
    CreditBesideClaim {
        claimed_by: TxHash,
    },
    /// Paid already, by an earlier operation of this same transaction: a transaction is atomic
    /// on the ledger, so its further operations add to that payment (an overpayment).
    Extend,
    Unmatched(UnmatchedReason),
}

/// What a credit from `record`'s transaction does to the session it names.
pub fn decide(
    credit_asset: &Asset,
    record: &LedgerRecord,
    session: Option<SessionView<'_>>,
) -> SessionDecision {
    use SessionDecision::*;
    let Some(s) = session else {
        return Unmatched(UnmatchedReason::UnknownReference);
    };
    if s.asset != credit_asset {
        return Unmatched(UnmatchedReason::WrongAsset);
    }
    // A session still open (pending, or processing under any claim) takes only payments whose
    // ledger closed by its expiry; the sweep that moves it to `expired` may not have run yet.
    let open = matches!(s.status, SessionStatus::Pending | SessionStatus::Processing);
    if open && closed_after(record, s.expires_at_us) {
        return Unmatched(UnmatchedReason::SessionExpired);
    }
    match s.status {
        SessionStatus::Pending => Claim,
        SessionStatus::Processing => match s.processing_tx_hash {
            Some(h) if record.is_of_transaction(h) => Resume,
            Some(h) => CreditBesideClaim { claimed_by: h },
            // The CHECK constraint makes this unreachable; a claim we cannot name is not ours.
            None => CreditBesideClaim {
                claimed_by: record.tx_hash,
            },
        },
        SessionStatus::Paid if s.credited_by_tx => SessionDecision::Extend,
        SessionStatus::Paid => Unmatched(UnmatchedReason::AlreadyPaid),
        SessionStatus::Expired => Unmatched(UnmatchedReason::SessionExpired),
        SessionStatus::Cancelled => Unmatched(UnmatchedReason::SessionCancelled),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    pub amount_received: Amount,
    /// `paid` when covered; otherwise `pending` (open to further payments), or still
    /// `processing` when the credit came beside another transaction's claim.
    pub status: SessionStatus,
    pub overpaid: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("amount received would overflow int64 stroops")]
pub struct SettlementOverflow;

/// What crediting `credited` to a processing session does to it.
///
/// `beside_claim`: the session is processing under *another* transaction's claim. A credit
/// that covers the amount pays the session (the claim ends with it: `paid` is terminal, and the
/// other transaction, if it lands, is `already_paid`); a short one adds to `amount_received`
/// and leaves the session `processing` under that claim, which resolves on its own. Either
/// way exactly one transaction is the one that moved the session to `paid`.
pub fn settle(
    amount_due: Amount,
    received_before: Amount,
    credited: Amount,
    beside_claim: bool,
) -> Result<Settlement, SettlementOverflow> {
    let amount_received = received_before
        .checked_add(credited)
        .ok_or(SettlementOverflow)?;
    let status = if amount_received >= amount_due {
        SessionStatus::Paid
    } else if beside_claim {
        SessionStatus::Processing
    } else {
        SessionStatus::Pending
    };
    Ok(Settlement {
        amount_received,
        status,
        overpaid: amount_received > amount_due,
    })
}

#[cfg(test)]
mod tests;
