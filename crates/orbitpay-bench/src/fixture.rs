//! What every measurement starts from: pending sessions in the database (inserted in one
//! statement, as fast as PostgreSQL allows), their payments on the simulated ledger, and the
//! check that each session was paid exactly once.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use orbitpay_core::{AccountId, Asset, Memo};
use orbitpay_horizon_sim::{HorizonSim, Op, Tx, stroops};
use tokio_postgres::{AsyncMessage, Client, NoTls};

/// A plain client (the baselines' and the bench's own queries).
pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .context("connecting to the bench database")?;
    tokio::spawn(connection);
    Ok(client)
}

/// A client that LISTENs on `channel`; each notification's payload arrives with the instant
/// it was read off the socket.
pub async fn listen(
    url: &str,
    channel: &str,
) -> anyhow::Result<(
    Client,
    tokio::sync::mpsc::UnboundedReceiver<(Instant, String)>,
)> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(message) = futures::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send((Instant::now(), n.payload().to_owned())).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    client.batch_execute(&format!("LISTEN {channel}")).await?;
    Ok((client, rx))
}

/// Inserts pending sessions `first..=last` (the reference is the number) of `amount` stroops.
pub async fn seed_sessions(
    db: &Client,
    account: &AccountId,
    first: i64,
    last: i64,
    amount: i64,
) -> anyhow::Result<()> {
    db.execute(
        "INSERT INTO sessions (account, reference, asset, amount, expires_at)
         SELECT $1, g::numeric, 'native', $4, now() + interval '7 days'
         FROM generate_series($2::int8, $3::int8) g",
        &[&account.to_string(), &first, &last, &amount],
    )
    .await
    .context("seeding sessions")?;
    Ok(())
}

/// Leaves seeded sessions as a table that grew over months would be, so that no measured run
/// pays for the seeding.
///
/// Statistics for the sessions only: analyzing the still-empty payment tables would tell the
/// planner they stay empty, and (with autovacuum off, as on test servers) the foreign-key
/// checks' cached plans would scan them sequentially for the whole run. VACUUM sets the hint
/// bits and visibility map (otherwise the first reads of up to 1M rows dirty their pages), and
/// the checkpoint writes out the seeding (otherwise one falls mid-run). VACUUM cannot share a
/// statement batch, which runs as one transaction.
pub async fn settle_seeded(db: &Client) -> anyhow::Result<()> {
    db.batch_execute("VACUUM (ANALYZE) sessions")
        .await
        .context("vacuuming the seeded sessions")?;
    db.batch_execute("CHECKPOINT")
        .await
        .context("checkpointing the seeding")?;
    Ok(())
}

/// One payment transaction of `amount` stroops to `shop`, naming `reference` in a memo id.
pub fn payment(payer: AccountId, shop: AccountId, reference: u64, amount: i64) -> Tx {
    Tx::new(payer).memo(Memo::Id(reference)).op(Op::payment(
        payer,
        shop,
        Asset::Native,
        stroops(amount),
    ))
}

/// A payment as the ledger holds it, for the SQL baselines (which skip Horizon).
#[derive(Debug, Clone)]
pub struct Paid {
    pub reference: i64,
    pub op_id: i64,
    pub tx_hash: String,
    pub ledger: i32,
    pub amount: i64,
}

/// Closes ledgers (100 transactions each) paying `references` in order, `amount` stroops each.
pub fn pay_all(
    sim: &HorizonSim,
    payer: AccountId,
    shop: AccountId,
    references: impl IntoIterator<Item = u64>,
    amount: i64,
) -> Vec<Paid> {
    let mut out = Vec::new();
    let mut batch: Vec<u64> = Vec::with_capacity(100);
    let mut close = |batch: &mut Vec<u64>| {
        if batch.is_empty() {
            return;
        }
        let txs = batch
            .iter()
            .map(|r| payment(payer, shop, *r, amount))
            .collect();
        let closed = sim.close_ledger(txs);
        for (tx, reference) in closed.txs.iter().zip(batch.drain(..)) {
            out.push(Paid {
                reference: i64::try_from(reference).unwrap_or(i64::MAX),
                op_id: tx.op_ids[0],
                tx_hash: tx.hash.clone(),
                ledger: i32::try_from(tx.ledger).unwrap_or(i32::MAX),
                amount,
            });
        }
    };
    for reference in references {
        batch.push(reference);
        if batch.len() == 100 {
            close(&mut batch);
        }
    }
    close(&mut batch);
    out
}

/// Waits until the daemon's stored cursor for `account` reaches `token`: every record up to it
/// is durably settled (the cursor moves only in the transaction that settles them). A cheap
/// primary-key read every 5 ms, so the wait costs the database next to nothing.
pub async fn wait_cursor(
    db: &Client,
    account: &AccountId,
    token: i64,
    limit: Duration,
) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + limit;
    let statement = db
        .prepare("SELECT paging_token FROM stream_cursors WHERE account = $1")
        .await?;
    let account = account.to_string();
    loop {
        let row = db.query_opt(&statement, &[&account]).await?;
        if row.is_some_and(|r| r.get::<_, i64>(0) >= token) {
            return Ok(Instant::now());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the cursor did not reach {token} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What the correctness check expects of some sessions of an account.
pub struct Expect {
    pub references: Vec<i64>,
    /// Operations credited to each session.
    pub ops_per_session: i64,
    /// Whether the writer records outbox events (the naive watcher does not).
    pub events: bool,
}

/// Every session named is paid exactly once: `paid`, `amount_received = amount`, the expected
/// operations (no more), one `session.paid` event, and nothing unmatched on the account.
pub async fn check_paid_once(
    db: &Client,
    account: &AccountId,
    e: &Expect,
) -> anyhow::Result<CheckResult> {
    let account_s = account.to_string();
    let refs = &e.references;
    let in_refs = "s.account = $1 AND s.reference = ANY($2::int8[]::numeric[])";
    let row = db
        .query_one(
            &format!(
                "SELECT count(*), count(*) FILTER (WHERE status = 'paid'),
                        count(*) FILTER (WHERE amount_received <> amount)
                 FROM sessions s WHERE {in_refs}"
            ),
            &[&account_s, refs],
        )
        .await?;
    let (sessions, paid, wrong): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    let ops: i64 = db
        .query_one(
            &format!(
                "SELECT count(*) FROM payment_operations o
                 JOIN payments p ON p.id = o.payment_id
                 JOIN sessions s ON s.id = p.session_id WHERE {in_refs}"
            ),
            &[&account_s, refs],
        )
        .await?
        .get(0);
    let unmatched: i64 = db
        .query_one(
            "SELECT count(*) FROM unmatched_payments WHERE account = $1",
            &[&account_s],
        )
        .await?
        .get(0);
    let (paid_events, paid_sessions): (i64, i64) = if e.events {
        let row = db
            .query_one(
                &format!(
                    "SELECT count(*), count(DISTINCT e.session_id) FROM outbox_events e
                     JOIN sessions s ON s.id = e.session_id
                     WHERE e.event_type = 'session.paid' AND {in_refs}"
                ),
                &[&account_s, refs],
            )
            .await?;
        (row.get(0), row.get(1))
    } else {
        (sessions, sessions)
    };
    let expected = refs.len() as i64;
    let result = CheckResult {
        sessions,
        paid,
        wrong_amount: wrong,
        operations: ops,
        unmatched,
        paid_events,
    };
    anyhow::ensure!(
        sessions == expected
            && paid == expected
            && wrong == 0
            && ops == expected * e.ops_per_session
            && unmatched == 0
            && paid_events == expected
            && paid_sessions == expected,
        "correctness check failed for {account}: expected {expected} sessions each paid once \
         with {} operations, found {result:?}",
        e.ops_per_session
    );
    Ok(result)
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckResult {
    pub sessions: i64,
    pub paid: i64,
    pub wrong_amount: i64,
    pub operations: i64,
    pub unmatched: i64,
    pub paid_events: i64,
}

/// Waits until every session named is `paid` (after a live phase, whose backlog may still be
/// draining).
pub async fn wait_paid(
    db: &Client,
    account: &AccountId,
    references: &[i64],
    limit: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    let want = references.len() as i64;
    loop {
        let paid: i64 = db
            .query_one(
                "SELECT count(*) FROM sessions WHERE account = $1
                 AND reference = ANY($2::int8[]::numeric[]) AND status = 'paid'",
                &[&account.to_string(), &references],
            )
            .await?
            .get(0);
        if paid == want {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{paid} of {want} live sessions paid after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
