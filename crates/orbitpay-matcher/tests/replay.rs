//! 10,000 random records (matching, unmatched, duplicate, late, multi-op, ignored) replayed
//! twice in random batch sizes leave the same database as one replay.

mod common;

use common::*;
use orbitpay_core::{Address, Asset, LedgerRecord, Memo, TransferKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SESSIONS: u64 = 400;

fn random_records(seed: u64, n: usize) -> Vec<LedgerRecord> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out: Vec<LedgerRecord> = Vec::with_capacity(n);
    let mut tx = 0u64;
    while out.len() < n {
        tx += 1;
        let reference = rng.random_range(1..=SESSIONS);
        let amt = format!(
            "{}.{:07}",
            rng.random_range(0..4),
            rng.random_range(1..10_000_000)
        );
        let kind = rng.random_range(0..100);
        let mut rec = match kind {
            0..=59 => pay(tx, 1, muxed(reference), Asset::Native, &amt, Memo::None),
            60..=64 => pay(tx, 1, merchant(), Asset::Native, &amt, Memo::Id(reference)),
            65..=69 => pay(tx, 1, muxed(reference), usdc(8), &amt, Memo::None),
            70..=74 => pay(
                tx,
                1,
                muxed(100_000 + reference),
                Asset::Native,
                &amt,
                Memo::None,
            ),
            75..=79 => pay(tx, 1, merchant(), Asset::Native, &amt, Memo::None),
            80..=84 => pay(
                tx,
                1,
                muxed(reference),
                Asset::Native,
                &amt,
                Memo::Id(reference + 1),
            ),
            85..=89 => transfer(
                tx,
                1,
                TransferKind::Payment,
                merchant(),
                Address::Account(account(3)),
                Asset::Native,
                &amt,
                Memo::None,
            ),
            _ => {
                // A multi-operation transaction paying one session twice.
                out.push(pay(
                    tx,
                    1,
                    muxed(reference),
                    Asset::Native,
                    &amt,
                    Memo::None,
                ));
                pay(tx, 2, muxed(reference), Asset::Native, "0.5", Memo::None)
            }
        };
        if rng.random_bool(0.02) {
            rec.successful = false;
        }
        // A redelivery right behind the original.
        if rng.random_bool(0.05) {
            out.push(rec.clone());
        }
        out.push(rec);
    }
    out.truncate(n);
    out
}

async fn setup() -> Fixture {
    let f = Fixture::new().await;
    let mut rng = StdRng::seed_from_u64(99);
    for reference in 1..=SESSIONS {
        let due = format!(
            "{}.{:07}",
            rng.random_range(1..6),
            rng.random_range(0..10_000_000)
        );
        let asset = if reference % 10 == 0 {
            usdc(9)
        } else {
            Asset::Native
        };
        f.session(asset, &due, reference).await;
    }
    f
}

async fn replay(f: &Fixture, records: &[LedgerRecord], seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut rest = records;
    while !rest.is_empty() {
        let size = rng.random_range(1..=200).min(rest.len());
        let (batch, tail) = rest.split_at(size);
        f.handle(batch).await;
        rest = tail;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_twice_in_random_batches_equals_one_replay() {
    let records = random_records(2026, 10_000);
    assert!(
        records.windows(2).all(|w| w[0].op_id <= w[1].op_id),
        "in ledger order"
    );

    let once = setup().await;
    replay(&once, &records, 1).await;
    let twice = setup().await;
    replay(&twice, &records, 2).await;
    replay(&twice, &records, 3).await;

    assert_eq!(once.snapshot().await, twice.snapshot().await);
    assert_eq!(once.cursor().await, twice.cursor().await);
    assert_eq!(once.cursor().await, Some(records.last().unwrap().op_id));

    // Every credit to the account ended up exactly once: credited or recorded.
    let distinct_credits = records
        .iter()
        .filter(|r| r.successful && !matches!(&r.operation, orbitpay_core::Operation::Transfer { from, .. } if *from == merchant()))
        .map(|r| r.op_id)
        .collect::<std::collections::BTreeSet<_>>()
        .len() as i64;
    let accounted = once.count("SELECT (SELECT count(*) FROM payment_operations) + (SELECT count(*) FROM unmatched_payments)").await;
    assert_eq!(accounted, distinct_credits);
    let sums = once
        .count("SELECT count(*) FROM sessions s WHERE amount_received <> (SELECT coalesce(sum(amount), 0) FROM payments p WHERE p.session_id = s.id)")
        .await;
    assert_eq!(
        sums, 0,
        "amount_received is the sum of the session's payments"
    );
    assert_eq!(
        once.count("SELECT count(*) FROM sessions WHERE status = 'processing'")
            .await,
        0
    );
}
