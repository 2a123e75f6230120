//! The terms settlement is spoken in: what the matcher hands in (an [`Intent`] per record, as
//! [`Item`]s) and what comes out ([`Applied`] per item, the claim and settle outcomes).

use orbitpay_core::matching::{ContractCredit, Credit, IgnoreReason, Outgoing};
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
    /// Money the account sent the way a refund sends it: it may complete one.
    Outgoing(Outgoing),
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
    /// An outgoing payment completed this refund.
    RefundCompleted {
        refund_id: Uuid,
    },
    /// An outgoing payment that looks like a refund completed none: recorded in
    /// `outgoing_payments` with why, and with the refund it is nearest to, if any.
    OutgoingRecorded {
        reason: OutgoingReason,
        near_refund_id: Option<Uuid>,
    },
}

/// Why a refund-like outgoing payment completed no refund (`outgoing_payments.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutgoingReason {
    /// A refund awaits with this destination, asset and memo, for another amount.
    WrongAmount,
    /// A refund awaits with this destination, asset and amount, under another memo.
    WrongMemo,
    /// It is exactly a refund the merchant canceled: the money went out anyway.
    RefundCanceled,
    /// It is exactly a refund another operation completed already: sent twice.
    RefundCompleted,
    /// A `MEMO_RETURN`, or a refund's destination and asset, and no refund close to it.
    NoRefund,
    /// It is exactly an awaiting refund, but the source gave no ledger close time.
    NoCloseTime,
}

impl OutgoingReason {
    pub fn as_str(self) -> &'static str {
        match self {
            OutgoingReason::WrongAmount => "wrong_amount",
            OutgoingReason::WrongMemo => "wrong_memo",
            OutgoingReason::RefundCanceled => "refund_canceled",
            OutgoingReason::RefundCompleted => "refund_completed",
            OutgoingReason::NoRefund => "no_refund",
            OutgoingReason::NoCloseTime => "no_close_time",
        }
    }
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
