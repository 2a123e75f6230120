use super::*;
use crate::{BalanceChange, ContractAmount, ContractId, MuxedAccount, TransferKind};

fn acct(n: u8) -> AccountId {
    AccountId::from_bytes([n; 32])
}

const HASH: TxHash = TxHash::from_bytes([0xab; 32]);
const OTHER_HASH: TxHash = TxHash::from_bytes([0xcd; 32]);

fn usdc(issuer: u8) -> Asset {
    Asset::Credit {
        code: "USDC".parse().unwrap(),
        issuer: acct(issuer),
    }
}

fn amt(s: &str) -> Amount {
    s.parse().unwrap()
}

fn record(operation: Operation) -> LedgerRecord {
    LedgerRecord {
        op_id: 1,
        tx_hash: HASH,
        inner_tx_hash: None,
        ledger: 7,
        closed_at: None,
        successful: true,
        memo: Memo::None,
        operation,
        raw: None,
    }
}

fn transfer(kind: TransferKind, from: Address, to: Address, amount: &str) -> Operation {
    Operation::Transfer {
        kind,
        from,
        to,
        asset: Asset::Native,
        amount: amt(amount),
    }
}

const ME: u8 = 1;
const PAYER: u8 = 2;

fn me() -> AccountId {
    acct(ME)
}

fn credit_of(i: Interpretation) -> Credit {
    match i {
        Interpretation::Credit(c) => c,
        other => panic!("expected a credit, got {other:?}"),
    }
}

#[test]
fn every_transfer_kind_credits_the_destination_amount() {
    for kind in [
        TransferKind::Payment,
        TransferKind::PathPaymentStrictReceive,
        TransferKind::PathPaymentStrictSend,
    ] {
        let op = transfer(kind, acct(PAYER).into(), me().into(), "12.5");
        let c = credit_of(interpret(&record(op), &me()));
        assert_eq!(c.amount, amt("12.5"), "{kind:?}");
        assert_eq!(c.from, Some(acct(PAYER).into()));
        assert_eq!(c.muxed_id, None);
    }
}

#[test]
fn a_muxed_destination_carries_its_id() {
    let to = Address::Muxed(MuxedAccount::new(me(), u64::MAX));
    let c = credit_of(interpret(
        &record(transfer(TransferKind::Payment, acct(PAYER).into(), to, "1")),
        &me(),
    ));
    assert_eq!(c.muxed_id, Some(u64::MAX));
}

#[test]
fn create_account_credits_the_starting_balance_in_native() {
    let op = Operation::CreateAccount {
        funder: acct(PAYER),
        account: me(),
        starting_balance: amt("2"),
    };
    let c = credit_of(interpret(&record(op), &me()));
    assert_eq!((c.amount, c.asset), (amt("2"), Asset::Native));
    let funded_by_me = Operation::CreateAccount {
        funder: me(),
        account: acct(PAYER),
        starting_balance: amt("2"),
    };
    assert_eq!(
        interpret(&record(funded_by_me), &me()),
        Interpretation::Ignored(IgnoreReason::Outgoing)
    );
}

#[test]
fn account_merge_credits_the_effect_amount_or_is_uninterpretable_without_it() {
    let merge = |amount| Operation::AccountMerge {
        account: acct(PAYER).into(),
        into: me().into(),
        amount,
    };
    let c = credit_of(interpret(&record(merge(Some(amt("99.9")))), &me()));
    assert_eq!((c.amount, c.asset), (amt("99.9"), Asset::Native));
    assert!(matches!(
        interpret(&record(merge(None)), &me()),
        Interpretation::Uninterpretable { .. }
    ));
}

#[test]
fn sac_transfers_credit_only_changes_to_the_watched_account() {
    let change = |from: Address, to: Address, amount: i128, muxed| BalanceChange {
        change_type: "transfer".into(),
        from: Some(from),
        to: Some(to),
        asset: usdc(9),
        amount: ContractAmount::from_stroops(amount).unwrap(),
        destination_muxed_id: muxed,
    };
    let contract = Address::Contract(ContractId::from_bytes([5; 32]));
    let op = Operation::ContractTransfers {
        changes: vec![
            change(acct(PAYER).into(), me().into(), 10, Some(42)),
            change(acct(PAYER).into(), contract, 1000, None),
            change(acct(PAYER).into(), me().into(), 5, Some(42)),
        ],
    };
    let c = credit_of(interpret(&record(op), &me()));
    assert_eq!(
        (c.amount.stroops(), c.muxed_id, c.asset),
        (15, Some(42), usdc(9))
    );

    let too_big = Operation::ContractTransfers {
        changes: vec![change(
            acct(PAYER).into(),
            me().into(),
            i128::from(i64::MAX) + 1,
            None,
        )],
    };
    assert!(matches!(
        interpret(&record(too_big), &me()),
        Interpretation::Uninterpretable { .. }
    ));

    let mixed = Operation::ContractTransfers {
        changes: vec![
            change(acct(PAYER).into(), me().into(), 1, Some(1)),
            change(acct(PAYER).into(), me().into(), 1, Some(2)),
        ],
    };
    assert!(matches!(
        interpret(&record(mixed), &me()),
        Interpretation::Uninterpretable { .. }
    ));

    let outgoing = Operation::ContractTransfers {
        changes: vec![change(me().into(), contract, 1, None)],
    };
    assert_eq!(
        interpret(&record(outgoing), &me()),
        Interpretation::Ignored(IgnoreReason::Outgoing)
    );
}

#[test]
fn failed_outgoing_self_and_sponsor_only_records_are_ignored() {
    let mut failed = record(transfer(
        TransferKind::Payment,
        acct(PAYER).into(),
        me().into(),
        "1",
    ));
    failed.successful = false;
    let cases = [
        (failed, IgnoreReason::FailedTransaction),
        (
            record(transfer(
                TransferKind::Payment,
                me().into(),
                acct(PAYER).into(),
                "1",
            )),
            IgnoreReason::Outgoing,
        ),
        (
            record(transfer(
                TransferKind::PathPaymentStrictSend,
                me().into(),
                me().into(),
                "1",
            )),
            IgnoreReason::SelfPayment,
        ),
        (
            record(transfer(
                TransferKind::Payment,
                me().into(),
                Address::Muxed(MuxedAccount::new(me(), 3)),
                "1",
            )),
            IgnoreReason::SelfPayment,
        ),
        (
            record(transfer(
                TransferKind::Payment,
                acct(3).into(),
                acct(4).into(),
                "1",
            )),
            IgnoreReason::NotRecipient,
        ),
        (
            record(transfer(
                TransferKind::Payment,
                acct(PAYER).into(),
                me().into(),
                "0",
            )),
            IgnoreReason::ZeroAmount,
        ),
    ];
    for (rec, reason) in cases {
        assert_eq!(
            interpret(&rec, &me()),
            Interpretation::Ignored(reason),
            "{rec:?}"
        );
    }
}

#[test]
fn unsupported_operations_are_uninterpretable_not_fatal() {
    let op = Operation::Unsupported {
        op_type: "liquidity_pool_deposit".into(),
        reason: "unknown type".into(),
    };
    assert!(matches!(
        interpret(&record(op), &me()),
        Interpretation::Uninterpretable { .. }
    ));
}

#[test]
fn references_come_from_muxed_ids_memo_ids_and_exact_text() {
    use ReferenceLookup::*;
    let text = |b: &[u8]| Memo::text(b.to_vec()).unwrap();
    assert_eq!(reference_of(Some(5), &Memo::None), Found(Reference(5)));
    assert_eq!(
        reference_of(None, &Memo::Id(u64::MAX)),
        Found(Reference(u64::MAX))
    );
    assert_eq!(reference_of(Some(5), &Memo::Id(5)), Found(Reference(5)));
    assert_eq!(
        reference_of(Some(5), &Memo::Id(6)),
        Ambiguous {
            muxed_id: 5,
            memo: Reference(6)
        }
    );
    assert_eq!(reference_of(None, &text(b"77")), Found(Reference(77)));
    assert_eq!(
        reference_of(Some(77), &text(b"78")),
        Ambiguous {
            muxed_id: 77,
            memo: Reference(78)
        }
    );
    assert_eq!(
        reference_of(Some(77), &text(b"thanks!")),
        Found(Reference(77))
    );
    // Horizon would scrub the 0xff byte from `memo` and show "77"; the exact bytes say otherwise.
    assert_eq!(reference_of(None, &text(b"7\xff7")), Missing);
    assert_eq!(reference_of(None, &Memo::Hash([1; 32])), Missing);
    assert_eq!(reference_of(None, &Memo::Return([1; 32])), Missing);
    assert_eq!(reference_of(None, &Memo::None), Missing);
}

#[test]
fn decisions_cover_every_session_state() {
    use SessionDecision::*;
    let asset = usdc(9);
    let view = |status, processing_tx_hash| {
        Some(SessionView {
            status,
            asset: &asset,
            processing_tx_hash,
            credited_by_tx: false,
            expires_at_us: i64::MAX,
        })
    };
    let r = record(transfer(
        TransferKind::Payment,
        acct(PAYER).into(),
        me().into(),
        "1",
    ));
    assert_eq!(
        decide(&asset, &r, None),
        Unmatched(UnmatchedReason::UnknownReference)
    );
    assert_eq!(
        decide(&asset, &r, view(SessionStatus::Pending, None)),
        Claim
    );
    assert_eq!(
        decide(&asset, &r, view(SessionStatus::Processing, Some(HASH))),
        Resume
    );
    assert_eq!(
        decide(
            &asset,
            &r,
            view(SessionStatus::Processing, Some(OTHER_HASH))
        ),
        CreditBesideClaim {
            claimed_by: OTHER_HASH
        }
    );
    assert_eq!(
        decide(&asset, &r, view(SessionStatus::Paid, None)),
        Unmatched(UnmatchedReason::AlreadyPaid)
    );
    assert_eq!(
        decide(&asset, &r, view(SessionStatus::Expired, None)),
        Unmatched(UnmatchedReason::SessionExpired)
    );
    assert_eq!(
        decide(&asset, &r, view(SessionStatus::Cancelled, None)),
        Unmatched(UnmatchedReason::SessionCancelled)
    );
}

#[test]
fn a_claim_under_either_hash_of_a_fee_bump_is_its_own() {
    use SessionDecision::*;
    let asset = Asset::Native;
    const INNER: TxHash = TxHash::from_bytes([0x11; 32]);
    let mut r = record(transfer(
        TransferKind::Payment,
        acct(PAYER).into(),
        me().into(),
        "1",
    ));
    r.inner_tx_hash = Some(INNER);
    let view = |claim| {
        Some(SessionView {
            status: SessionStatus::Processing,
            asset: &asset,
            processing_tx_hash: Some(claim),
            credited_by_tx: false,
            expires_at_us: i64::MAX,
        })
    };
    // Reported under the inner hash, streamed under the outer one: the same transaction.
    assert_eq!(decide(&asset, &r, view(INNER)), Resume);
    assert_eq!(decide(&asset, &r, view(HASH)), Resume);
    assert_eq!(
        decide(&asset, &r, view(OTHER_HASH)),
        CreditBesideClaim {
            claimed_by: OTHER_HASH
        }
    );
}

fn credit_record() -> LedgerRecord {
    record(transfer(
        TransferKind::Payment,
        acct(PAYER).into(),
        me().into(),
        "1",
    ))
}

#[test]
fn same_code_from_another_issuer_is_the_wrong_asset() {
    let wanted = usdc(9);
    let session = Some(SessionView {
        status: SessionStatus::Pending,
        asset: &wanted,
        processing_tx_hash: None,
        credited_by_tx: false,
        expires_at_us: i64::MAX,
    });
    assert_eq!(
        decide(&usdc(8), &credit_record(), session),
        SessionDecision::Unmatched(UnmatchedReason::WrongAsset)
    );
    assert_eq!(
        decide(&Asset::Native, &credit_record(), session),
        SessionDecision::Unmatched(UnmatchedReason::WrongAsset)
    );
}

#[test]
fn settling_pays_in_full_tops_up_or_overpays() {
    let s = settle(amt("10"), amt("0"), amt("4"), false).unwrap();
    assert_eq!(
        (s.status, s.amount_received, s.overpaid),
        (SessionStatus::Pending, amt("4"), false)
    );
    let s = settle(amt("10"), amt("4"), amt("6"), false).unwrap();
    assert_eq!((s.status, s.overpaid), (SessionStatus::Paid, false));
    let s = settle(amt("10"), amt("4"), amt("7"), false).unwrap();
    assert_eq!(
        (s.status, s.amount_received, s.overpaid),
        (SessionStatus::Paid, amt("11"), true)
    );
    assert_eq!(
        settle(amt("10"), Amount::MAX, amt("1"), false),
        Err(SettlementOverflow)
    );
    // Every outcome is a legal move out of processing.
    for s in [
        SessionStatus::Paid,
        SessionStatus::Pending,
        SessionStatus::Processing,
    ] {
        assert!(SessionStatus::Processing.transition(s).is_ok());
    }
}

#[test]
fn a_credit_beside_another_claim_pays_or_leaves_the_claim_open() {
    // Short: counted, and the session stays processing under the other claim.
    let s = settle(amt("10"), amt("0"), amt("4"), true).unwrap();
    assert_eq!(
        (s.status, s.amount_received),
        (SessionStatus::Processing, amt("4"))
    );
    // In full: paid, whatever the other claim later brings.
    let s = settle(amt("10"), amt("4"), amt("6"), true).unwrap();
    assert_eq!(
        (s.status, s.amount_received),
        (SessionStatus::Paid, amt("10"))
    );
}

#[test]
fn reasons_round_trip_and_late_payments_are_the_three_terminal_ones() {
    for r in UnmatchedReason::ALL {
        assert_eq!(r.as_str().parse(), Ok(r));
    }
    let late: Vec<_> = UnmatchedReason::ALL
        .into_iter()
        .filter(|r| r.is_late_payment())
        .collect();
    assert_eq!(
        late,
        vec![
            UnmatchedReason::AlreadyPaid,
            UnmatchedReason::SessionExpired,
            UnmatchedReason::SessionCancelled
        ]
    );
}

#[test]
fn an_open_session_takes_payments_whose_ledger_closed_by_its_expiry() {
    use SessionDecision::*;
    let asset = Asset::Native;
    let expires = 1_700_000_000_i64 * 1_000_000 + 500_000; // .5 s past a whole second
    let view = |status, claim| {
        Some(SessionView {
            status,
            asset: &asset,
            processing_tx_hash: claim,
            credited_by_tx: false,
            expires_at_us: expires,
        })
    };
    let at = |closed_at| {
        let mut r = credit_record();
        r.closed_at = closed_at;
        r
    };
    let on_time = at(Some(1_700_000_000));
    let late = at(Some(1_700_000_001));
    assert_eq!(
        decide(&asset, &on_time, view(SessionStatus::Pending, None)),
        Claim
    );
    assert_eq!(
        decide(&asset, &late, view(SessionStatus::Pending, None)),
        Unmatched(UnmatchedReason::SessionExpired)
    );
    // Late under its own claim or beside another's: late either way.
    assert_eq!(
        decide(&asset, &late, view(SessionStatus::Processing, Some(HASH))),
        Unmatched(UnmatchedReason::SessionExpired)
    );
    assert_eq!(
        decide(
            &asset,
            &late,
            view(SessionStatus::Processing, Some(OTHER_HASH))
        ),
        Unmatched(UnmatchedReason::SessionExpired)
    );
    assert_eq!(
        decide(
            &asset,
            &on_time,
            view(SessionStatus::Processing, Some(HASH))
        ),
        Resume
    );
    // No close time from the source: not judged late here.
    assert_eq!(
        decide(&asset, &at(None), view(SessionStatus::Pending, None)),
        Claim
    );
    // A closed session keeps its own reason.
    assert_eq!(
        decide(&asset, &late, view(SessionStatus::Paid, None)),
        Unmatched(UnmatchedReason::AlreadyPaid)
    );
    // Exactly at the expiry is on time.
    let mut exact = view(SessionStatus::Pending, None);
    if let Some(v) = exact.as_mut() {
        v.expires_at_us = 1_700_000_000 * 1_000_000;
    }
    assert_eq!(decide(&asset, &on_time, exact), Claim);
}

#[test]
fn outgoing_payments_and_claimable_balances_are_what_a_refund_sends() {
    let payer = Address::Account(acct(PAYER));
    let muxed_me = Address::Muxed(MuxedAccount::new(me(), 9));
    for from in [Address::Account(me()), muxed_me] {
        let r = record(transfer(
            TransferKind::PathPaymentStrictSend,
            from,
            payer,
            "2",
        ));
        assert_eq!(
            outgoing(&r, &me()),
            Some(Outgoing {
                to: Some(payer),
                asset: Asset::Native,
                amount: amt("2"),
                claimable_balance: false,
            })
        );
    }
    let balance = |claimants: Vec<AccountId>| {
        record(Operation::CreateClaimableBalance {
            source: Address::Account(me()),
            asset: usdc(9),
            amount: amt("3"),
            claimants,
        })
    };
    let cb = balance(vec![acct(PAYER), me()]);
    assert_eq!(
        interpret(&cb, &me()),
        Interpretation::Ignored(IgnoreReason::Outgoing)
    );
    assert_eq!(outgoing(&cb, &me()).unwrap().to, Some(payer));
    let two = outgoing(&balance(vec![acct(PAYER), acct(3)]), &me()).unwrap();
    assert_eq!(two.to, None, "several claimants name no one payer");
    assert!(two.claimable_balance);
}

#[test]
fn incoming_self_failed_and_other_outgoing_operations_are_not_refund_candidates() {
    let payer = Address::Account(acct(PAYER));
    let mine = Address::Account(me());
    let incoming = record(transfer(TransferKind::Payment, payer, mine, "1"));
    let to_self = record(transfer(TransferKind::Payment, mine, mine, "1"));
    let mut failed = record(transfer(TransferKind::Payment, mine, payer, "1"));
    failed.successful = false;
    let funding = record(Operation::CreateAccount {
        funder: me(),
        account: acct(PAYER),
        starting_balance: amt("1"),
    });
    let claimable_for_me = record(Operation::CreateClaimableBalance {
        source: payer,
        asset: Asset::Native,
        amount: amt("1"),
        claimants: vec![me()],
    });
    assert_eq!(
        interpret(&claimable_for_me, &me()),
        Interpretation::Ignored(IgnoreReason::NotRecipient),
        "a balance is no credit until claimed"
    );
    for r in [incoming, to_self, failed, funding, claimable_for_me] {
        assert_eq!(outgoing(&r, &me()), None, "{:?}", r.operation);
    }
}
