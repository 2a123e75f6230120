//! The terms settlement is spoken in: what the matcher hands in (an [`Intent`] per record, as
//! [`Item`]s) and what comes out ([`Applied`] per item, the claim and settle outcomes).

use orbitpay_core::matching::{ContractCredit, Credit, IgnoreReason};
use orbitpay_core::{Amount, LedgerRecord, Reference, SessionStatus, TxHash, UnmatchedReason};
use uuid::Uuid;

/// What the matcher concluded about a record from the record alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Not a credit (outgoing, failed, self, sponsor-only): nothing to write.
    Skip(IgnoreReason),
    /// A credit naming a session of this account.
    Credit {
        credit: Credit,
        reference: Reference,
    },
    /// Money (or an uninterpretable record) that reaches no session whatever the database holds.
    Unmatched {
        credit: Option<Credit>,
        /// An uninterpretable contract transfer's money, kept exactly (i128).
        contract: Option<ContractCredit>,
        reason: UnmatchedReason,
        detail: Option<String>,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    pub record: &'a LedgerRecord,
    pub intent: &'a Intent,
}

/// What settling one item did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Skipped,
    /// Its op id was already credited or recorded: a redelivery, a no-op.
    AlreadyHandled,
    Credited {
        session_id: Uuid,
        status: SessionStatus,
        amount_received: Amount,
        overpaid: bool,
    },
    Unmatched {
        reason: UnmatchedReason,
        session_id: Option<Uuid>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimOutcome {
    /// The sessions this call moved to `processing`, and under which transaction.
    pub claimed: Vec<(Uuid, TxHash)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettleOutcome {
    /// One entry per item, in order.
    pub applied: Vec<Applied>,
    /// The cursor now stored for the account, when this batch moved it.
    pub cursor: Option<i64>,
}
