//! A claim never holds back other payments: a session `processing` under a client-reported (or
//! another instance's) transaction H1 takes a credit from H2 at once, every other record of the
//! account goes on, and H1 landing later is `already_paid` when the session is paid by then.

mod common;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::*;
use orbitpay_core::{AccountId, Asset, LedgerRecord, Memo, SessionStatus, TxHash};
use orbitpay_horizon::{EventStream, LedgerSource, PaymentsPage, RootInfo, SourceError, TxLookup};
use orbitpay_matcher::{Matcher, MatcherConfig, ReportOutcome};
use orbitpay_store::{ClaimSource, Session};
use serde_json::json;

/// A ledger whose lookups answer from a script: per hash, answers in order, the last one
/// repeated; a hash without a script is `Unavailable` (a claim that never resolves).
#[derive(Default)]
struct ScriptedLedger {
    answers: Mutex<HashMap<TxHash, VecDeque<TxLookup>>>,
}

impl ScriptedLedger {
    fn answer(&self, hash: TxHash, answers: Vec<TxLookup>) {
        self.answers.lock().unwrap().insert(hash, answers.into());
    }
}

#[async_trait]
impl LedgerSource for ScriptedLedger {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn root(&self) -> Result<RootInfo, SourceError> {
        Err(SourceError::Transport("not used".into()))
    }

    async fn payments_page(
        &self,
        _: &AccountId,
        _: i64,
        _: u32,
    ) -> Result<PaymentsPage, SourceError> {
        Err(SourceError::Transport("not used".into()))
    }

    async fn stream_payments(&self, _: &AccountId, _: i64) -> Result<EventStream, SourceError> {
        Err(SourceError::Transport("not used".into()))
    }

    async fn lookup_transaction(&self, hash: &TxHash) -> TxLookup {
        let mut answers = self.answers.lock().unwrap();
        match answers.get_mut(hash) {
            Some(q) if q.len() > 1 => q.pop_front().unwrap(),
            Some(q) => q.front().cloned().unwrap(),
            None => TxLookup::Unavailable("the ledger does not answer".into()),
        }
    }

    async fn ledger_closed_at(&self, _: u32) -> Result<i64, SourceError> {
        Err(SourceError::Transport("not used".into()))
    }

    async fn account(&self, _: &orbitpay_core::AccountId) -> orbitpay_horizon::AccountLookup {
        orbitpay_horizon::AccountLookup::Unavailable("not used".into())
    }
}

fn config() -> MatcherConfig {
    MatcherConfig {
        confirm_poll: Duration::from_millis(20),
        background_confirm: Duration::from_millis(300),
        ..Default::default()
    }
}

async fn fixture() -> (Fixture, Arc<ScriptedLedger>) {
    let ledger = Arc::new(ScriptedLedger::default());
    let f = Fixture::with_source(config(), ledger.clone()).await;
    (f, ledger)
}

/// Reports `tx` for `session`; the scripted ledger does not know it yet.
async fn report(matcher: &Arc<Matcher>, session: &Session, tx: TxHash) -> Session {
    let outcome = matcher
        .report_tx(session.id, tx, Duration::from_millis(60))
        .await
        .unwrap();
    let ReportOutcome::Processing(s) = outcome else {
        panic!("expected processing, got {outcome:?}")
    };
    let claim = s.processing.expect("claimed");
    assert_eq!(
        (claim.tx_hash, claim.source),
        (tx, ClaimSource::ClientReport)
    );
    s
}

/// One matcher batch, bounded so a matcher that waits shows up as a failure, not a hang.
async fn handle(matcher: &Matcher, account: &AccountId, records: &[LedgerRecord]) {
    let fetched: Vec<_> = records.iter().cloned().map(Ok).collect();
    let up_to = records.last().unwrap().op_id;
    tokio::time::timeout(
        Duration::from_secs(60),
        matcher.handle(account, &fetched, up_to),
    )
    .await
    .expect("the matcher must not wait")
    .expect("the batch is handled");
}

/// `n` pending native sessions of 1 XLM, references `first..first + n`, in one statement.
async fn many_sessions(f: &Fixture, first: u64, n: u64) {
    f.exec(&format!(
        "INSERT INTO sessions (account, reference, asset, amount, expires_at)
         SELECT '{}', r, 'native', 10000000, now() + interval '15 minutes'
         FROM generate_series({first}, {}) AS r",
        f.account,
        first + n - 1
    ))
    .await;
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_reported_claim_that_never_resolves_holds_back_none_of_1000_other_payments() {
    let (f, _ledger) = fixture().await;
    let claimed = f.session(Asset::Native, "5", 1).await;
    let claimed = report(&f.matcher, &claimed, hash(1)).await;
    many_sessions(&f, 1000, 1000).await;

    // The customer pays part again under another transaction, then 1,000 other customers pay.
    let mut records = vec![pay(2, 1, muxed(1), Asset::Native, "1", Memo::None)];
    records.extend(
        (0..1000u64).map(|i| pay(10 + i, 1, muxed(1000 + i), Asset::Native, "1", Memo::None)),
    );
    let started = Instant::now();
    for page in records.chunks(200) {
        handle(&f.matcher, &f.account, page).await;
    }
    let elapsed = started.elapsed();
    println!("1,001 records in 6 batches beside an open claim: {elapsed:?}");

    assert_eq!(
        f.count("SELECT count(*) FROM sessions WHERE status = 'paid' AND reference >= 1000")
            .await,
        1000
    );
    assert_eq!(f.count("SELECT count(*) FROM payments").await, 1001);
    assert_eq!(f.cursor().await, Some(records.last().unwrap().op_id));
    // The claim is untouched: still H1's, from the client report, since the same moment.
    let s = f.reload(&claimed).await;
    assert_eq!(
        (s.status, s.amount_received),
        (SessionStatus::Processing, amount("1"))
    );
    assert_eq!(s.processing, claimed.processing);
}

#[tokio::test]
async fn a_second_payment_pays_the_claimed_session_and_h1_landing_later_is_already_paid() {
    let (f, _ledger) = fixture().await;
    let s = f.session(Asset::Native, "5", 7).await;
    report(&f.matcher, &s, hash(1)).await;

    let h2 = pay(2, 1, muxed(7), Asset::Native, "5", Memo::None);
    handle(&f.matcher, &f.account, std::slice::from_ref(&h2)).await;
    let paid = f.reload(&s).await;
    assert_eq!(
        (paid.status, paid.amount_received),
        (SessionStatus::Paid, amount("5"))
    );
    assert!(
        paid.processing.is_none(),
        "paid is terminal: H1's claim ends"
    );
    assert_eq!(f.cursor().await, Some(h2.op_id));

    // H1 lands after all: the session is paid by H2, so H1 is money for a paid session.
    let h1 = pay(1, 1, muxed(7), Asset::Native, "5", Memo::None);
    let later = pay(3, 1, merchant(), Asset::Native, "1", Memo::Id(7));
    handle(&f.matcher, &f.account, &[later, h1]).await;
    let s = f.reload(&s).await;
    assert_eq!(
        (s.status, s.amount_received),
        (SessionStatus::Paid, amount("5"))
    );
    let payments = f
        .count(&format!(
            "SELECT count(*) FROM payments WHERE session_id = '{}' AND tx_hash = '{}'",
            s.id,
            hash(2)
        ))
        .await;
    let late = f
        .count(&format!(
            "SELECT count(*) FROM unmatched_payments WHERE session_id = '{}' AND reason = 'already_paid'",
            s.id
        ))
        .await;
    assert_eq!(
        (payments, late),
        (1, 2),
        "only H2 paid it; H1 and the third are late"
    );
    assert_eq!(
        f.count("SELECT count(*) FROM outbox_events WHERE event_type = 'session.paid'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_short_second_payment_keeps_h1s_claim_and_h1_then_pays() {
    let (f, _ledger) = fixture().await;
    let s = f.session(Asset::Native, "5", 7).await;
    let claimed = report(&f.matcher, &s, hash(1)).await;

    handle(
        &f.matcher,
        &f.account,
        &[pay(2, 1, muxed(7), Asset::Native, "2", Memo::None)],
    )
    .await;
    let short = f.reload(&s).await;
    assert_eq!(
        (short.status, short.amount_received),
        (SessionStatus::Processing, amount("2"))
    );
    assert_eq!(
        short.processing, claimed.processing,
        "the claim stays as it was"
    );

    handle(
        &f.matcher,
        &f.account,
        &[pay(1, 1, muxed(7), Asset::Native, "5", Memo::None)],
    )
    .await;
    let paid = f.reload(&s).await;
    assert_eq!(
        (paid.status, paid.amount_received, paid.processing),
        (SessionStatus::Paid, amount("7"), None)
    );
    assert!(paid.is_overpaid());
    assert_eq!(f.count("SELECT count(*) FROM payments").await, 2);
    assert_eq!(f.count("SELECT count(*) FROM unmatched_payments").await, 0);
}

#[tokio::test]
async fn h1_confirmed_in_the_background_after_h2_paid_is_already_paid() {
    let (f, ledger) = fixture().await;
    let s = f.session(Asset::Native, "5", 7).await;
    report(&f.matcher, &s, hash(1)).await;
    handle(
        &f.matcher,
        &f.account,
        &[pay(2, 1, muxed(7), Asset::Native, "5", Memo::None)],
    )
    .await;

    // The ledger now knows H1: the background confirmation records it as already paid.
    let h1 = pay(1, 1, muxed(7), Asset::Native, "5", Memo::None);
    ledger.answer(
        hash(1),
        vec![TxLookup::Confirmed {
            ledger: h1.ledger,
            records: vec![h1.clone()],
        }],
    );
    let late = format!(
        "SELECT count(*) FROM unmatched_payments WHERE session_id = '{}' AND reason = 'already_paid'",
        s.id
    );
    wait_until("H1 is recorded", async || f.count(&late).await == 1).await;
    // The stream's delivery of H1 is then a no-op.
    handle(&f.matcher, &f.account, &[h1]).await;
    assert_eq!(f.count(&late).await, 1);
    assert_eq!(f.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(f.reload(&s).await.amount_received, amount("5"));
}

#[tokio::test]
async fn the_background_confirmation_releases_a_claim_the_ledger_never_knew() {
    let (f, ledger) = fixture().await;
    let s = f.session(Asset::Native, "5", 7).await;
    // Horizon is unreachable through the request's wait, then says "not found" for good.
    let mut answers = vec![TxLookup::Unavailable("503".into()); 6];
    answers.push(TxLookup::NotFound);
    ledger.answer(hash(1), answers);
    report(&f.matcher, &s, hash(1)).await;

    wait_until("the claim is released", async || {
        f.reload(&s).await.status == SessionStatus::Pending
    })
    .await;
    assert!(f.reload(&s).await.processing.is_none());
    assert_eq!(
        f.count("SELECT count(*) FROM outbox_events WHERE event_type = 'session.released'")
            .await,
        1
    );
}

#[tokio::test]
async fn an_unavailable_ledger_keeps_the_claim_past_the_background_deadline() {
    let (f, _ledger) = fixture().await;
    let s = f.session(Asset::Native, "5", 7).await;
    let claimed = report(&f.matcher, &s, hash(1)).await;
    // Well past the 300 ms background confirmation.
    tokio::time::sleep(Duration::from_millis(900)).await;
    f.matcher.shutdown().await;
    let s = f.reload(&s).await;
    assert_eq!(s.status, SessionStatus::Processing);
    assert_eq!(s.processing, claimed.processing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_database_credit_beside_an_open_claim_exactly_once() {
    let (f, ledger) = fixture().await;
    // A second instance: its own pool, its own matcher, the same database and ledger.
    let pool = orbitpay_store::build_pool(f.db.url(), &Default::default()).unwrap();
    let other = Matcher::new(pool, ledger.clone(), config());
    let s = f.session(Asset::Native, "5", 7).await;
    report(&f.matcher, &s, hash(1)).await;
    many_sessions(&f, 1000, 400).await;

    let mut records = vec![pay(2, 1, muxed(7), Asset::Native, "5", Memo::None)];
    records.extend(
        (0..400u64).map(|i| pay(10 + i, 1, muxed(1000 + i), Asset::Native, "1", Memo::None)),
    );
    let h1 = pay(1, 1, muxed(7), Asset::Native, "5", Memo::None);
    let pages: Vec<Vec<LedgerRecord>> = records
        .chunks(100)
        .map(<[_]>::to_vec)
        .chain([vec![h1]])
        .collect();
    for page in pages {
        let (a, b) = (f.matcher.clone(), other.clone());
        let (pa, pb, account) = (page.clone(), page, f.account);
        let ta = tokio::spawn(async move { handle(&a, &account, &pa).await });
        let tb = tokio::spawn(async move { handle(&b, &account, &pb).await });
        ta.await.unwrap();
        tb.await.unwrap();
    }

    let s = f.reload(&s).await;
    assert_eq!(
        (s.status, s.amount_received),
        (SessionStatus::Paid, amount("5"))
    );
    assert_eq!(
        f.count("SELECT count(*) FROM sessions WHERE status = 'paid'")
            .await,
        401
    );
    assert_eq!(
        f.count("SELECT count(*) FROM sessions WHERE amount_received <> amount")
            .await,
        0,
        "nothing credited twice"
    );
    assert_eq!(f.count("SELECT count(*) FROM payments").await, 401);
    assert_eq!(
        f.count(&format!(
            "SELECT count(*) FROM unmatched_payments WHERE session_id = '{}' AND reason = 'already_paid' AND tx_hash = '{}'",
            s.id,
            hash(1)
        ))
        .await,
        1
    );
    assert_eq!(f.count("SELECT count(*) FROM unmatched_payments").await, 1);
}

// Fee-bumps: the wallet may report the inner hash (what its key signed); the stream and every
// operation carry the outer one. Both name the same transaction.

const FEE_BUMP: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/horizon/transaction_fee_bump_muxed_source_pubnet.json"
));
const OUTER: &str = "a261c12d4d400c2954d1e234103907178f4f0767b69a868bf9cf0e2d27cb41a6";
const INNER: &str = "00c0353e0494d4cbab31ac9fba3e83c82c3071fbb96bd69be40f012cc0cf8f3d";

/// The fixture's transaction as the payments stream would carry it: its operation `index`, a
/// payment of `amt` to the merchant with memo id `reference`, converted by the Horizon client.
fn fee_bump_payment(f: &Fixture, index: i64, reference: u64, amt: &str) -> LedgerRecord {
    let mut tx: serde_json::Value = serde_json::from_str(FEE_BUMP).unwrap();
    tx["memo_type"] = json!("id");
    tx["memo"] = json!(reference.to_string());
    let token: i64 = tx["paging_token"].as_str().unwrap().parse().unwrap();
    let op = token + index;
    let record = json!({
        "id": op.to_string(), "paging_token": op.to_string(), "transaction_successful": true,
        "source_account": account(PAYER).to_string(), "type": "payment", "type_i": 1,
        "created_at": "2024-07-04T14:29:30Z", "transaction_hash": OUTER,
        "asset_type": "native", "from": account(PAYER).to_string(),
        "to": f.account.to_string(), "amount": format!("{amt}.0000000"), "transaction": tx,
    });
    let r = orbitpay_horizon::convert::record_from_value(record, None).unwrap();
    assert!(
        matches!(r.operation, orbitpay_core::Operation::Transfer { .. }),
        "{r:?}"
    );
    r
}

#[tokio::test]
async fn a_fee_bump_reported_by_either_hash_is_settled_by_the_streamed_outer_one() {
    let (f, _ledger) = fixture().await;
    for (index, reference, reported) in [(1, 7u64, INNER), (2, 8, OUTER)] {
        let s = f.session(Asset::Native, "5", reference).await;
        report(&f.matcher, &s, reported.parse().unwrap()).await;
        // A short payment: the claim's own transaction resolves it (back to pending), where a
        // different transaction's credit would have left it processing.
        let r = fee_bump_payment(&f, index, reference, "2");
        handle(&f.matcher, &f.account, &[r]).await;
        let s = f.reload(&s).await;
        assert_eq!(
            (s.status, s.amount_received, s.processing),
            (SessionStatus::Pending, amount("2"), None),
            "reported under {reported}"
        );
        assert_eq!(
            f.count(&format!(
                "SELECT count(*) FROM payments WHERE session_id = '{}' AND tx_hash = '{OUTER}'",
                s.id
            ))
            .await,
            1
        );
    }
}

#[tokio::test]
async fn a_fee_bump_reported_by_its_inner_hash_is_settled_by_the_lookup() {
    let (f, ledger) = fixture().await;
    let s = f.session(Asset::Native, "5", 7).await;
    let r = fee_bump_payment(&f, 1, 7, "5");
    // Looked up by the inner hash, Horizon answers with operations under the outer one.
    let inner: TxHash = INNER.parse().unwrap();
    ledger.answer(
        inner,
        vec![TxLookup::Confirmed {
            ledger: r.ledger,
            records: vec![r.clone()],
        }],
    );
    let outcome = f
        .matcher
        .report_tx(s.id, inner, Duration::from_millis(200))
        .await
        .unwrap();
    let ReportOutcome::Settled(settled) = outcome else {
        panic!("expected settled, got {outcome:?}")
    };
    assert_eq!(
        (settled.status, settled.amount_received, settled.processing),
        (SessionStatus::Paid, amount("5"), None)
    );
    // The stream's outer-hash record is then already handled.
    handle(&f.matcher, &f.account, &[r]).await;
    assert_eq!(f.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(f.count("SELECT count(*) FROM unmatched_payments").await, 0);
}

#[tokio::test]
async fn a_fee_bump_paid_by_the_stream_then_reported_by_either_hash_answers_settled() {
    let (f, _ledger) = fixture().await;
    // Paid by the stream, under the outer hash; the wallet then reports either hash, twice.
    let s = f.session(Asset::Native, "5", 7).await;
    handle(&f.matcher, &f.account, &[fee_bump_payment(&f, 1, 7, "5")]).await;
    for reported in [INNER, OUTER, INNER] {
        let outcome = f
            .matcher
            .report_tx(s.id, reported.parse().unwrap(), Duration::from_millis(60))
            .await
            .unwrap_or_else(|e| panic!("reported under {reported}: {e}"));
        let ReportOutcome::Settled(settled) = outcome else {
            panic!("reported under {reported}: expected settled, got {outcome:?}")
        };
        assert_eq!(
            (settled.status, settled.amount_received),
            (SessionStatus::Paid, amount("5"))
        );
    }
    assert_eq!(f.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(f.count("SELECT count(*) FROM unmatched_payments").await, 0);
}

#[tokio::test]
async fn a_fee_bump_settled_by_a_report_of_its_inner_hash_answers_settled_when_reported_again() {
    let (f, ledger) = fixture().await;
    let s = f.session(Asset::Native, "5", 7).await;
    let r = fee_bump_payment(&f, 1, 7, "5");
    let confirmed = TxLookup::Confirmed {
        ledger: r.ledger,
        records: vec![r.clone()],
    };
    ledger.answer(INNER.parse().unwrap(), vec![confirmed.clone()]);
    ledger.answer(OUTER.parse().unwrap(), vec![confirmed]);
    for reported in [INNER, INNER, OUTER] {
        let outcome = f
            .matcher
            .report_tx(s.id, reported.parse().unwrap(), Duration::from_millis(200))
            .await
            .unwrap_or_else(|e| panic!("reported under {reported}: {e}"));
        assert!(
            matches!(&outcome, ReportOutcome::Settled(s) if s.status == SessionStatus::Paid),
            "reported under {reported}: {outcome:?}"
        );
    }
    handle(&f.matcher, &f.account, &[r]).await;
    assert_eq!(f.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(f.count("SELECT count(*) FROM unmatched_payments").await, 0);
}
