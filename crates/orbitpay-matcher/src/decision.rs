//! What the matcher says about each decision: one JSON log line and the counters an operator
//! adds up (`orbitpay_records_total`, `orbitpay_credited_stroops_total`,
//! `orbitpay_unmatched_total`).

use orbitpay_core::AccountId;
use orbitpay_store::settlement::{Applied, Intent, Item};
use tracing::{debug, error, info, warn};

/// One JSON log line and one counter per decision.
pub(crate) fn log_decision(account: &AccountId, item: &Item<'_>, applied: &Applied) {
    let r = item.record;
    let (decision, session_id, credit) = match (applied, item.intent) {
        (Applied::Skipped, Intent::Skip(reason)) => (reason.as_str(), None, None),
        (Applied::Skipped, _) => ("skipped", None, None),
        (Applied::AlreadyHandled, _) => ("already_handled", None, None),
        (
            Applied::Credited {
                session_id, status, ..
            },
            Intent::Credit { credit, .. },
        ) => (
            if status.is_terminal() {
                "credited_paid"
            } else {
                "credited_partial"
            },
            Some(*session_id),
            Some(credit),
        ),
        (Applied::Credited { session_id, .. }, _) => ("credited", Some(*session_id), None),
        (Applied::Unmatched { reason, session_id }, intent) => {
            let credit = match intent {
                Intent::Credit { credit, .. } => Some(credit),
                Intent::Unmatched { credit, .. } => credit.as_ref(),
                Intent::Skip(_) | Intent::Outgoing(_) => None,
            };
            (reason.as_str(), *session_id, credit)
        }
        (Applied::RefundCompleted { .. }, _) => ("refund_completed", None, None),
        (Applied::OutgoingRecorded { reason, .. }, _) => (reason.as_str(), None, None),
    };
    metrics::counter!("orbitpay_records_total", "decision" => decision).increment(1);
    if let (Applied::Credited { .. }, Some(c)) = (applied, credit) {
        metrics::counter!("orbitpay_credited_stroops_total", "asset" => c.asset.to_string())
            .increment(u64::try_from(c.amount.stroops()).unwrap_or(0));
    }
    if let Applied::Unmatched { reason, .. } = applied {
        metrics::counter!("orbitpay_unmatched_total", "reason" => reason.as_str()).increment(1);
    }
    let amount = credit.map(|c| c.amount.to_string());
    let asset = credit.map(|c| c.asset.to_string());
    let session_id = session_id.map(|s| s.to_string());
    macro_rules! decision_line {
        ($level:ident, $msg:literal) => {
            $level!(account = %account, op_id = r.op_id, tx_hash = %r.tx_hash, session_id, amount, asset,
                    decision, op_type = r.operation.type_name(), $msg)
        };
    }
    match applied {
        Applied::AlreadyHandled => decision_line!(debug, "record already handled; no-op"),
        Applied::Unmatched { reason, .. } if reason.is_late_payment() => {
            decision_line!(
                warn,
                "payment for a session that no longer takes payments; recorded, not credited"
            )
        }
        Applied::Unmatched { reason, .. }
            if *reason == orbitpay_core::UnmatchedReason::UnsupportedOperation =>
        {
            let detail = match item.intent {
                Intent::Unmatched { detail, .. } => detail.as_deref().unwrap_or(""),
                _ => "",
            };
            error!(account = %account, op_id = r.op_id, tx_hash = %r.tx_hash, decision, detail,
                   "ledger record could not be interpreted; recorded as unmatched")
        }
        Applied::Unmatched { .. } => {
            decision_line!(info, "payment matched no session; recorded as unmatched")
        }
        Applied::Credited { .. } => decision_line!(info, "payment credited"),
        Applied::RefundCompleted { refund_id } => {
            info!(account = %account, op_id = r.op_id, tx_hash = %r.tx_hash, refund_id = %refund_id,
                  decision, "outgoing payment completed a refund")
        }
        // The store logged it with the refund it is nearest to.
        Applied::OutgoingRecorded { .. } => {
            decision_line!(debug, "refund-like outgoing payment recorded")
        }
        Applied::Skipped => decision_line!(debug, "record is not a credit to this account"),
    }
}
