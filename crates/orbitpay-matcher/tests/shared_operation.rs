//! One contract operation paying two watched accounts (a Soroban split payment): it is in both
//! accounts' payments under the same operation id, and each account's part is credited (or
//! recorded) on its own, whichever settles first and when both settle at once. Reconciliation
//! then finds both already handled.

mod common;

use std::time::Duration;

use common::{Fixture, account};
use diesel_async::SimpleAsyncConnection;
use orbitpay_core::{AccountId, Asset, LedgerRecord, MuxedAccount, Reference, SessionStatus};
use orbitpay_horizon::{FetchedRecord, HorizonConfig, HorizonSource, LedgerSource};
use orbitpay_horizon_sim::{Op, Tx, stroops};
use orbitpay_matcher::prepare;
use orbitpay_store::Session;
use orbitpay_store::models::NewSession;
use orbitpay_store::settlement::{self, Applied, Intent, Item};

const SHOP_B: u8 = 3;
const PAYER: u8 = 2;

struct Split {
    f: Fixture,
    a: AccountId,
    b: AccountId,
    source: HorizonSource,
}

impl Split {
    async fn new() -> Split {
        let f = Fixture::new().await;
        let (a, b) = (f.account, account(SHOP_B));
        for acct in [a, b, account(PAYER)] {
            f.sim.register_account(acct);
        }
        let mut cfg = HorizonConfig::new(f.server.base_url().parse().unwrap());
        cfg.request_timeout = Duration::from_secs(5);
        let source = HorizonSource::new(cfg).unwrap();
        Split { f, a, b, source }
    }

    async fn session(&self, account: AccountId, reference: u64, due: i64) -> Session {
        let mut conn = self.f.db.conn().await;
        let new = NewSession {
            account,
            asset: Asset::Native,
            amount: stroops(due),
            expires_at: chrono::Utc::now() + chrono::Duration::minutes(15),
            metadata: serde_json::json!({}),
            order_id: None,
            webhook_url: None,
        };
        orbitpay_store::sessions::insert_with_reference(&mut conn, &new, Reference(reference))
            .await
            .unwrap()
    }

    /// Closes a ledger holding one contract call paying each `(account, muxed id, stroops)`.
    fn split_pay(&self, to: &[(AccountId, Option<u64>, i64)]) {
        let payer = account(PAYER);
        let transfers = to.iter().map(|&(acct, reference, amount)| {
            let to = match reference {
                Some(r) => orbitpay_core::Address::Muxed(MuxedAccount::new(acct, r)),
                None => orbitpay_core::Address::Account(acct),
            };
            (to, stroops(amount))
        });
        self.f
            .sim
            .close_ledger(vec![Tx::new(payer).op(Op::sac_split(
                payer,
                Asset::Native,
                transfers,
            ))]);
    }

    /// The account's payments as the source lists them.
    async fn records(&self, account: &AccountId) -> Vec<LedgerRecord> {
        let page = self.source.payments_page(account, 0, 200).await.unwrap();
        page.records.into_iter().map(|r| r.unwrap()).collect()
    }

    async fn handle(&self, account: &AccountId, records: &[LedgerRecord]) {
        let fetched: Vec<FetchedRecord> = records.iter().cloned().map(Ok).collect();
        self.f
            .matcher
            .handle(account, &fetched, records.last().unwrap().op_id)
            .await
            .unwrap();
    }

    async fn reconcile(&self, account: &AccountId, records: &[LedgerRecord]) -> Vec<Applied> {
        self.f.matcher.settle_again(account, records).await.unwrap()
    }
}

fn intents(records: &[LedgerRecord], account: &AccountId) -> Vec<Intent> {
    records
        .iter()
        .map(|r| prepare::intent(r, account))
        .collect()
}

fn items<'a>(records: &'a [LedgerRecord], intents: &'a [Intent]) -> Vec<Item<'a>> {
    records
        .iter()
        .zip(intents)
        .map(|(record, intent)| Item { record, intent })
        .collect()
}

#[tokio::test]
async fn a_split_payment_credits_both_accounts_sessions_one_after_the_other() {
    let t = Split::new().await;
    let sa = t.session(t.a, 11, 300).await;
    let sb = t.session(t.b, 12, 200).await;
    t.split_pay(&[(t.a, Some(11), 300), (t.b, Some(12), 200)]);
    let (ra, rb) = (t.records(&t.a).await, t.records(&t.b).await);
    assert_eq!(ra.len(), 1);
    assert_eq!(
        ra[0].op_id, rb[0].op_id,
        "one operation in both accounts' payments"
    );

    t.handle(&t.a, &ra).await;
    t.handle(&t.b, &rb).await;

    for (s, due) in [(&sa, 300), (&sb, 200)] {
        let s = t.f.reload(s).await;
        assert_eq!(s.status, SessionStatus::Paid, "{s:?}");
        assert_eq!(s.amount_received, stroops(due));
    }
    assert_eq!(
        t.f.count(&format!(
            "SELECT count(*) FROM payment_operations WHERE op_id = {}",
            ra[0].op_id
        ))
        .await,
        2
    );
    assert_eq!(t.reconcile(&t.a, &ra).await, vec![Applied::AlreadyHandled]);
    assert_eq!(t.reconcile(&t.b, &rb).await, vec![Applied::AlreadyHandled]);
}

#[tokio::test]
async fn a_split_payment_naming_no_session_is_recorded_unmatched_on_both_accounts() {
    let t = Split::new().await;
    t.split_pay(&[(t.a, None, 300), (t.b, None, 200)]);
    let (ra, rb) = (t.records(&t.a).await, t.records(&t.b).await);

    t.handle(&t.a, &ra).await;
    t.handle(&t.b, &rb).await;

    for (acct, amount) in [(t.a, 300), (t.b, 200)] {
        assert_eq!(
            t.f.count(&format!(
                "SELECT count(*) FROM unmatched_payments WHERE account = '{acct}'
                   AND op_id = {} AND amount = {amount} AND reason = 'no_reference'",
                ra[0].op_id
            ))
            .await,
            1,
            "{acct}'s part is recorded"
        );
    }
    assert_eq!(t.reconcile(&t.a, &ra).await, vec![Applied::AlreadyHandled]);
    assert_eq!(t.reconcile(&t.b, &rb).await, vec![Applied::AlreadyHandled]);
}

/// Both accounts' settles pass their locks and their already-handled reads before either
/// commits: a third transaction holds both sessions until both settles wait on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_payment_credits_both_accounts_sessions_settled_at_the_same_moment() {
    let t = Split::new().await;
    let sa = t.session(t.a, 21, 300).await;
    let sb = t.session(t.b, 22, 200).await;
    t.split_pay(&[(t.a, Some(21), 300), (t.b, Some(22), 200)]);
    let (ra, rb) = (t.records(&t.a).await, t.records(&t.b).await);
    let (ia, ib) = (intents(&ra, &t.a), intents(&rb, &t.b));
    let up_to = ra[0].op_id;
    for (acct, records, intents) in [(t.a, &ra, &ia), (t.b, &rb, &ib)] {
        let mut conn = t.f.db.conn().await;
        let claimed = settlement::claim(&mut conn, &acct, &items(records, intents))
            .await
            .unwrap();
        assert_eq!(claimed.claimed.len(), 1);
    }

    let mut blocker = t.f.db.conn().await;
    blocker
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM sessions WHERE id IN ('{}', '{}') FOR NO KEY UPDATE",
            sa.id, sb.id
        ))
        .await
        .unwrap();
    let (mut ca, mut cb) = (t.f.db.conn().await, t.f.db.conn().await);
    let (xa, xb) = (items(&ra, &ia), items(&rb, &ib));
    let settle_a = settlement::settle(&mut ca, &t.a, &xa, Some(up_to));
    let settle_b = settlement::settle(&mut cb, &t.b, &xb, Some(up_to));
    let release = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(4);
        while t
            .f
            .count(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .await
            < 2
        {
            assert!(
                std::time::Instant::now() < deadline,
                "both settles wait on the locks"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        blocker.batch_execute("COMMIT").await.unwrap();
    };
    let (a, b, ()) = tokio::join!(settle_a, settle_b, release);
    let (a, b) = (a.unwrap(), b.unwrap());

    assert!(matches!(a.applied[..], [Applied::Credited { .. }]), "{a:?}");
    assert!(matches!(b.applied[..], [Applied::Credited { .. }]), "{b:?}");
    for s in [&sa, &sb] {
        assert_eq!(t.f.reload(s).await.status, SessionStatus::Paid);
    }
    assert_eq!(t.reconcile(&t.a, &ra).await, vec![Applied::AlreadyHandled]);
    assert_eq!(t.reconcile(&t.b, &rb).await, vec![Applied::AlreadyHandled]);
}
