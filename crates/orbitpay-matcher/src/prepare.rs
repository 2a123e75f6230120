//! From a ledger record to what the store must do with it: core's rules, nothing else.

use orbitpay_core::matching::{self, IgnoreReason, Interpretation, ReferenceLookup};
use orbitpay_core::{AccountId, LedgerRecord, UnmatchedReason};
use orbitpay_store::settlement::Intent;

pub fn intent(record: &LedgerRecord, account: &AccountId) -> Intent {
    match matching::interpret(record, account) {
        // The account's own payments may be refunds, which the store matches.
        Interpretation::Ignored(IgnoreReason::Outgoing) => {
            match matching::outgoing(record, account) {
                Some(out) => Intent::Outgoing(out),
                None => Intent::Skip(IgnoreReason::Outgoing),
            }
        }
        Interpretation::Ignored(reason) => Intent::Skip(reason),
        Interpretation::Uninterpretable { reason, contract } => Intent::Unmatched {
            credit: None,
            contract,
            reason: UnmatchedReason::UnsupportedOperation,
            detail: Some(reason),
        },
        Interpretation::Credit(credit) => {
            match matching::reference_of(credit.muxed_id, &record.memo) {
                ReferenceLookup::Found(reference) => Intent::Credit { credit, reference },
                ReferenceLookup::Missing => Intent::Unmatched {
                    credit: Some(credit),
                    contract: None,
                    reason: UnmatchedReason::NoReference,
                    detail: None,
                },
                ReferenceLookup::Ambiguous { muxed_id, memo } => Intent::Unmatched {
                    credit: Some(credit),
                    contract: None,
                    reason: UnmatchedReason::AmbiguousReference,
                    detail: Some(format!(
                        "muxed id {muxed_id} and memo {memo} name different sessions"
                    )),
                },
            }
        }
    }
}
