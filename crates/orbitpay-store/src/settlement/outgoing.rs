//! Money the watched account sent: a refund completed by the ledger, or a refund-like
//! payment that completes none, recorded for the merchant.
//!
//! An outgoing payment, path payment or claimable balance **completes** a refund of the same
//! account that awaits signature when its destination (a claimable balance's one claimant
//! besides the account), asset, amount and memo are the refund's. It **looks like a refund**
//! when it carries `MEMO_RETURN`, or when its destination and asset are those of any refund
//! of the account (awaiting, completed or canceled); such a payment that completes none is
//! recorded in `outgoing_payments` with why. Anything else (a supplier paid) is no refund:
//! nothing is written.
//!
//! The refunds a batch's destinations name are locked (`FOR NO KEY UPDATE`, in id order) with
//! the batch's sessions, before the handled op ids are read, so of two instances settling the
//! same operation the second waits, then reads it handled; and a cancel, which locks the
//! refund too, either comes first (the payment is then `refund_canceled`) or finds the refund
//! completed.

use chrono::DateTime;
use orbitpay_core::matching::Outgoing;
use orbitpay_core::{AccountId, LedgerRecord, Memo};

use super::types::{Applied, OutgoingReason};
use super::unmatched::{memo_columns, raw_operation};
use super::work::Work;
use super::writes::{Completion, ledger_i32};
use crate::StoreError;
use crate::models::{NewOutgoingPayment, RefundRow};
use crate::refunds::{AWAITING_SIGNATURE, CANCELED, COMPLETED};

/// What an outgoing operation does, judged against the account's refunds it names.
#[derive(Debug, Clone, PartialEq)]
enum Verdict<'a> {
    Complete(&'a RefundRow),
    Record {
        reason: OutgoingReason,
        near: Option<&'a RefundRow>,
    },
    /// Not a refund.
    Nothing,
}

fn memo_is(refund: &RefundRow, memo: &Memo) -> bool {
    let (value, bytes) = memo_columns(memo);
    refund.memo_type == memo.type_name()
        && match memo {
            Memo::None => true,
            Memo::Id(_) => refund.memo_value == value,
            Memo::Text(_) | Memo::Hash(_) | Memo::Return(_) => refund.memo_bytes == bytes,
        }
}

/// The rule of the module docs. `refunds` are the account's refunds, in id order (oldest
/// first); a closed ledger time is needed to complete one.
fn judge<'a>(
    refunds: &'a [RefundRow],
    out: &Outgoing,
    memo: &Memo,
    has_close_time: bool,
) -> Verdict<'a> {
    let asset = out.asset.to_string();
    let named: Vec<&RefundRow> = match &out.to {
        Some(to) => {
            let to = to.to_string();
            refunds
                .iter()
                .filter(|r| r.destination == to && r.asset == asset)
                .collect()
        }
        None => Vec::new(),
    };
    let exact = |r: &&RefundRow| r.amount == out.amount.stroops() && memo_is(r, memo);
    let with_status = |status: &str| {
        named
            .iter()
            .copied()
            .filter(exact)
            .find(|r| r.status == status)
    };
    if let Some(r) = with_status(AWAITING_SIGNATURE) {
        return match has_close_time {
            true => Verdict::Complete(r),
            false => Verdict::Record {
                reason: OutgoingReason::NoCloseTime,
                near: Some(r),
            },
        };
    }
    for (status, reason) in [
        (COMPLETED, OutgoingReason::RefundCompleted),
        (CANCELED, OutgoingReason::RefundCanceled),
    ] {
        if let Some(r) = with_status(status) {
            return Verdict::Record {
                reason,
                near: Some(r),
            };
        }
    }
    let awaiting = named
        .iter()
        .copied()
        .filter(|r| r.status == AWAITING_SIGNATURE);
    if let Some(r) = awaiting.clone().find(|r| memo_is(r, memo)) {
        return Verdict::Record {
            reason: OutgoingReason::WrongAmount,
            near: Some(r),
        };
    }
    if let Some(r) = awaiting.clone().find(|r| r.amount == out.amount.stroops()) {
        return Verdict::Record {
            reason: OutgoingReason::WrongMemo,
            near: Some(r),
        };
    }
    if !named.is_empty() || matches!(memo, Memo::Return(_)) {
        return Verdict::Record {
            reason: OutgoingReason::NoRefund,
            near: named.first().copied(),
        };
    }
    Verdict::Nothing
}

/// Decides one outgoing operation and queues what it writes in `work`.
pub(super) fn settle_outgoing(
    account: &AccountId,
    record: &LedgerRecord,
    out: &Outgoing,
    work: &mut Work,
) -> Result<Applied, StoreError> {
    let closed_at = record
        .closed_at
        .and_then(|secs| DateTime::from_timestamp(secs, 0));
    let (refund_id, reason, near_refund_id) =
        match judge(&work.refunds, out, &record.memo, closed_at.is_some()) {
            Verdict::Nothing => return Ok(Applied::Skipped),
            Verdict::Complete(r) => (Some(r.id), None, None),
            Verdict::Record { reason, near } => (None, Some(reason), near.map(|r| r.id)),
        };
    let (memo_value, memo_bytes) = memo_columns(&record.memo);
    work.outgoing.push(NewOutgoingPayment {
        account: account.to_string(),
        op_id: record.op_id,
        tx_hash: record.tx_hash.to_string(),
        ledger: ledger_i32(record.ledger)?,
        closed_at,
        method: if out.claimable_balance {
            "claimable_balance"
        } else {
            "payment"
        }
        .to_owned(),
        destination: out.to.map(|a| a.to_string()),
        asset: out.asset.to_string(),
        amount: out.amount.stroops(),
        memo_type: record.memo.type_name().to_owned(),
        memo_value,
        memo_bytes,
        refund_id,
        reason: reason.map(|r| r.as_str().to_owned()),
        near_refund_id,
        raw_operation: record.raw.as_deref().map(raw_operation),
    });
    match (refund_id, closed_at, reason) {
        (Some(refund_id), Some(closed_at), _) => {
            // A later operation of the batch judges the refund as completed.
            if let Some(r) = work.refunds.iter_mut().find(|r| r.id == refund_id) {
                r.status = COMPLETED.to_owned();
            }
            work.completions.push(Completion {
                refund_id,
                tx_hash: record.tx_hash,
                closed_at,
            });
            Ok(Applied::RefundCompleted { refund_id })
        }
        (_, _, Some(reason)) => {
            tracing::warn!(account = %account, op_id = record.op_id, tx_hash = %record.tx_hash,
                           reason = reason.as_str(), near_refund_id = ?near_refund_id,
                           "outgoing payment looks like a refund and completes none; recorded");
            Ok(Applied::OutgoingRecorded {
                reason,
                near_refund_id,
            })
        }
        _ => unreachable!("a completion has its close time; a record its reason"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbitpay_core::{Address, Amount, Asset};
    use uuid::Uuid;

    fn payer() -> Address {
        Address::Account(AccountId::from_bytes([2; 32]))
    }

    fn refund(status: &str, amount: i64, memo: &Memo) -> RefundRow {
        let (memo_value, memo_bytes) = memo_columns(memo);
        RefundRow {
            id: Uuid::now_v7(),
            unmatched_id: Some(1),
            session_id: None,
            account: AccountId::from_bytes([1; 32]).to_string(),
            amount,
            asset: "native".into(),
            destination: payer().to_string(),
            memo_type: memo.type_name().into(),
            memo_value,
            memo_bytes,
            method: "payment".into(),
            status: status.into(),
            envelope_xdr: String::new(),
            sequence: 1,
            valid_until: chrono::Utc::now(),
            tx_hash: None,
            closed_at: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    fn paying(amount: i64) -> Outgoing {
        Outgoing {
            to: Some(payer()),
            asset: Asset::Native,
            amount: Amount::from_stroops(amount).unwrap(),
            claimable_balance: false,
        }
    }

    const RETURN: Memo = Memo::Return([7; 32]);

    fn reason(v: Verdict<'_>) -> Option<OutgoingReason> {
        match v {
            Verdict::Record { reason, .. } => Some(reason),
            _ => None,
        }
    }

    #[test]
    fn the_exact_payment_completes_the_awaiting_refund_and_only_with_a_close_time() {
        let rs = [
            refund(CANCELED, 10, &RETURN),
            refund(AWAITING_SIGNATURE, 10, &RETURN),
        ];
        assert_eq!(
            judge(&rs, &paying(10), &RETURN, true),
            Verdict::Complete(&rs[1])
        );
        assert_eq!(
            reason(judge(&rs, &paying(10), &RETURN, false)),
            Some(OutgoingReason::NoCloseTime)
        );
    }

    #[test]
    fn near_misses_are_recorded_with_why() {
        let awaiting = [refund(AWAITING_SIGNATURE, 10, &RETURN)];
        let cases = [
            (&awaiting[..], 11, RETURN, OutgoingReason::WrongAmount),
            (
                &awaiting[..],
                10,
                Memo::Return([8; 32]),
                OutgoingReason::WrongMemo,
            ),
            (&awaiting[..], 11, Memo::Id(3), OutgoingReason::NoRefund),
            (
                &[refund(CANCELED, 10, &RETURN)][..],
                10,
                RETURN,
                OutgoingReason::RefundCanceled,
            ),
            (
                &[refund(COMPLETED, 10, &RETURN)][..],
                10,
                RETURN,
                OutgoingReason::RefundCompleted,
            ),
            (&[][..], 10, RETURN, OutgoingReason::NoRefund),
        ];
        for (refunds, amount, memo, expected) in cases {
            assert_eq!(
                reason(judge(refunds, &paying(amount), &memo, true)),
                Some(expected),
                "{amount} {memo:?}"
            );
        }
    }

    #[test]
    fn a_plain_payment_to_someone_no_refund_names_is_nothing() {
        let rs = [refund(AWAITING_SIGNATURE, 10, &RETURN)];
        let mut supplier = paying(10);
        supplier.to = Some(Address::Account(AccountId::from_bytes([3; 32])));
        assert_eq!(judge(&rs, &supplier, &Memo::Id(5), true), Verdict::Nothing);
        let mut other_asset = paying(10);
        other_asset.asset = "USDC:GC5LF63GRVIT5ZXXCXLPI3RX2YXKJQFZVBSAO6AUELN3YIMSWPD6Z6FH"
            .parse()
            .unwrap();
        assert_eq!(
            judge(&rs, &other_asset, &Memo::None, true),
            Verdict::Nothing
        );
    }
}
