//! The same-run baselines, on the same database as the daemon:
//! - the naive watcher a merchant writes from the SDK tutorials (Horizon page, then one
//!   transaction lookup and one database transaction per payment);
//! - per-payment SQL: our claim and settle, one payment per transaction pair, N clients;
//! - bulk SQL: the same writes set-based, 200 payments per transaction pair (the ceiling);
//! - create SQL: the session-creation writes, one commit per request (what pgbench would run).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use orbitpay_core::AccountId;
use serde_json::{Value, json};
use tokio_postgres::Client;

use crate::fixture::{Paid, connect};
use crate::stats::{Latency, Load, Throughput};

/// `"12.3400000"` to stroops, as a tutorial script would parse it (integer maths).
fn stroops(amount: &str) -> anyhow::Result<i64> {
    let (whole, frac) = amount.split_once('.').unwrap_or((amount, "0"));
    let frac = format!("{frac:0<7}");
    Ok(whole.parse::<i64>()? * 10_000_000 + frac[..7].parse::<i64>()?)
}

/// The naive watcher: pages `/payments` (no join), fetches each payment's transaction for
/// its memo, and settles it in its own database transaction (lock, mark paid, payment row,
/// operation row). Stops after `count` payments.
pub async fn naive_watcher(
    horizon: &str,
    db_url: &str,
    shop: &AccountId,
    start: i64,
    count: usize,
) -> anyhow::Result<Throughput> {
    let http = reqwest::Client::new();
    let mut db = connect(db_url).await?;
    let shop_s = shop.to_string();
    let started = Instant::now();
    let mut cursor = start.to_string();
    let mut done = 0usize;
    while done < count {
        let page: Value = http
            .get(format!(
                "{horizon}/accounts/{shop}/payments?order=asc&limit=200&cursor={cursor}"
            ))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let records = match page["_embedded"]["records"].as_array() {
            Some(r) if !r.is_empty() => r.clone(),
            _ => break,
        };
        for record in records {
            cursor = record["paging_token"]
                .as_str()
                .context("paging_token")?
                .to_owned();
            if record["to"].as_str() != Some(shop_s.as_str()) {
                continue;
            }
            let hash = record["transaction_hash"].as_str().context("hash")?;
            let tx: Value = http
                .get(format!("{horizon}/transactions/{hash}"))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let Some(reference) = tx["memo"].as_str().and_then(|m| m.parse::<i64>().ok()) else {
                continue;
            };
            let amount = stroops(record["amount"].as_str().context("amount")?)?;
            let op_id: i64 = record["id"].as_str().context("id")?.parse()?;
            let ledger = i32::try_from(tx["ledger"].as_i64().context("ledger")?)?;
            let t = db.transaction().await?;
            let row = t
                .query_opt(
                    "SELECT id::text, status::text FROM sessions
                     WHERE account = $1 AND reference = $2::int8::numeric FOR UPDATE",
                    &[&shop_s, &reference],
                )
                .await?;
            if let Some(row) = row {
                let (id, status): (String, String) = (row.get(0), row.get(1));
                if status == "pending" {
                    t.execute(
                        "UPDATE sessions SET status = 'paid', amount_received = amount_received + $2
                         WHERE id = $1::text::uuid",
                        &[&id, &amount],
                    )
                    .await?;
                    let payment: i64 = t
                        .query_one(
                            "INSERT INTO payments (session_id, tx_hash, amount, asset, ledger)
                             VALUES ($1::text::uuid, $2, $3, 'native', $4) RETURNING id",
                            &[&id, &hash, &amount, &ledger],
                        )
                        .await?
                        .get(0);
                    t.execute(
                        "INSERT INTO payment_operations (account, op_id, payment_id, amount)
                         VALUES ($1, $2, $3, $4)",
                        &[&shop_s, &op_id, &payment, &amount],
                    )
                    .await?;
                }
            }
            t.commit().await?;
            done += 1;
        }
    }
    Ok(Throughput::new(done as u64, started.elapsed()))
}

const LOCK_ONE: &str = "SELECT id::text, status::text, amount, amount_received FROM sessions
    WHERE account = $1 AND reference = $2::int8::numeric FOR NO KEY UPDATE";
const HANDLED: &str = "SELECT op_id FROM payment_operations WHERE account = $1 AND op_id = ANY($2)
    UNION ALL SELECT op_id FROM unmatched_payments WHERE account = $1 AND op_id = ANY($2)";
const EVENT: &str = "INSERT INTO outbox_events (event_id, event_type, session_id, payload)
    VALUES (gen_random_uuid(), $1, $2::text::uuid, $3::text::jsonb)";

/// Claim then settle one payment, with our statement shape (row lock, idempotency read,
/// upsert payment, operation, session update, outbox event; two commits).
async fn per_payment_one(db: &mut Client, account: &str, p: &Paid) -> anyhow::Result<()> {
    let t = db.transaction().await?;
    let row = t
        .query_opt(LOCK_ONE, &[&account, &p.reference])
        .await?
        .context("no session")?;
    let id: String = row.get(0);
    t.query(HANDLED, &[&account, &vec![p.op_id]]).await?;
    t.execute(
        "UPDATE sessions SET status = 'processing', processing_tx_hash = $2,
         processing_started_at = now(), claim_source = 'stream' WHERE id = $1::text::uuid",
        &[&id, &p.tx_hash],
    )
    .await?;
    let payload = json!({"session_id": id, "tx_hash": p.tx_hash}).to_string();
    t.execute(EVENT, &[&"session.processing", &id, &payload])
        .await?;
    t.commit().await?;

    let t = db.transaction().await?;
    let row = t
        .query_opt(LOCK_ONE, &[&account, &p.reference])
        .await?
        .context("no session")?;
    let received: i64 = row.get(3);
    t.query(HANDLED, &[&account, &vec![p.op_id]]).await?;
    let payment: i64 = t
        .query_one(
            "INSERT INTO payments (session_id, tx_hash, amount, asset, ledger)
             VALUES ($1::text::uuid, $2, $3, 'native', $4)
             ON CONFLICT (tx_hash, session_id) DO UPDATE SET amount = payments.amount + excluded.amount
             RETURNING id",
            &[&id, &p.tx_hash, &p.amount, &p.ledger],
        )
        .await?
        .get(0);
    t.execute(
        "INSERT INTO payment_operations (account, op_id, payment_id, amount)
         VALUES ($1, $2, $3, $4)",
        &[&account, &p.op_id, &payment, &p.amount],
    )
    .await?;
    t.execute(
        "UPDATE sessions SET status = 'paid', amount_received = $2, processing_tx_hash = NULL,
         processing_started_at = NULL, claim_source = NULL WHERE id = $1::text::uuid",
        &[&id, &(received + p.amount)],
    )
    .await?;
    let payload = json!({"session_id": id, "tx_hash": p.tx_hash, "op_id": p.op_id}).to_string();
    t.execute(EVENT, &[&"session.paid", &id, &payload]).await?;
    t.commit().await?;
    Ok(())
}

/// Per-payment SQL: `clients` connections take payments from one queue.
pub async fn per_payment(
    db_url: &str,
    account: &AccountId,
    payments: Vec<Paid>,
    clients: usize,
) -> anyhow::Result<Throughput> {
    let count = payments.len() as u64;
    let queue = Arc::new(Mutex::new(VecDeque::from(payments)));
    let account = account.to_string();
    let mut conns = Vec::new();
    for _ in 0..clients {
        conns.push(connect(db_url).await?);
    }
    let started = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut db| {
            let queue = queue.clone();
            let account = account.clone();
            tokio::spawn(async move {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                    let Some(p) = next else { break };
                    per_payment_one(&mut db, &account, &p).await?;
                }
                Ok::<_, anyhow::Error>(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok(Throughput::new(count, started.elapsed()))
}

/// Claim and settle a batch set-based: one statement per kind of write.
async fn bulk_batch(db: &mut Client, account: &str, batch: &[Paid]) -> anyhow::Result<()> {
    let refs: Vec<i64> = batch.iter().map(|p| p.reference).collect();
    let ops: Vec<i64> = batch.iter().map(|p| p.op_id).collect();
    let hashes: Vec<&str> = batch.iter().map(|p| p.tx_hash.as_str()).collect();
    let amounts: Vec<i64> = batch.iter().map(|p| p.amount).collect();
    let ledgers: Vec<i32> = batch.iter().map(|p| p.ledger).collect();
    let lock = "SELECT id FROM sessions WHERE account = $1
        AND reference = ANY($2::int8[]::numeric[]) ORDER BY reference FOR NO KEY UPDATE";

    let t = db.transaction().await?;
    t.query(lock, &[&account, &refs]).await?;
    t.query(HANDLED, &[&account, &ops]).await?;
    let claimed = t
        .query(
            "UPDATE sessions s SET status = 'processing', processing_tx_hash = v.tx,
               processing_started_at = now(), claim_source = 'stream'
             FROM unnest($2::int8[], $3::text[]) v(ref, tx)
             WHERE s.account = $1 AND s.reference = v.ref::numeric AND s.status = 'pending'
             RETURNING s.id::text, v.tx",
            &[&account, &refs, &hashes],
        )
        .await?;
    let ids: Vec<String> = claimed.iter().map(|r| r.get(0)).collect();
    let payloads: Vec<String> = claimed
        .iter()
        .map(|r| {
            json!({"session_id": r.get::<_, String>(0), "tx_hash": r.get::<_, String>(1)})
                .to_string()
        })
        .collect();
    t.execute(
        "INSERT INTO outbox_events (event_id, event_type, session_id, payload)
         SELECT gen_random_uuid(), 'session.processing', v.id::uuid, v.p::jsonb
         FROM unnest($1::text[], $2::text[]) v(id, p)",
        &[&ids, &payloads],
    )
    .await?;
    t.commit().await?;

    let t = db.transaction().await?;
    t.query(lock, &[&account, &refs]).await?;
    t.query(HANDLED, &[&account, &ops]).await?;
    t.execute(
        "WITH v AS (SELECT * FROM unnest($2::int8[], $3::text[], $4::int8[], $5::int4[], $6::int8[])
                      AS v(ref, tx, amount, ledger, op_id)),
              p AS (INSERT INTO payments (session_id, tx_hash, amount, asset, ledger)
                    SELECT s.id, v.tx, v.amount, 'native', v.ledger FROM v
                    JOIN sessions s ON s.account = $1 AND s.reference = v.ref::numeric
                    ON CONFLICT (tx_hash, session_id)
                      DO UPDATE SET amount = payments.amount + excluded.amount
                    RETURNING id, tx_hash)
         INSERT INTO payment_operations (account, op_id, payment_id, amount)
         SELECT $1, v.op_id, p.id, v.amount FROM v JOIN p ON p.tx_hash = v.tx",
        &[&account, &refs, &hashes, &amounts, &ledgers, &ops],
    )
    .await?;
    let paid = t
        .query(
            "UPDATE sessions s SET status = 'paid', amount_received = s.amount_received + v.amount,
               processing_tx_hash = NULL, processing_started_at = NULL, claim_source = NULL
             FROM unnest($2::int8[], $3::int8[], $4::int8[]) v(ref, amount, op_id)
             WHERE s.account = $1 AND s.reference = v.ref::numeric
             RETURNING s.id::text, v.op_id",
            &[&account, &refs, &amounts, &ops],
        )
        .await?;
    let ids: Vec<String> = paid.iter().map(|r| r.get(0)).collect();
    let payloads: Vec<String> = paid
        .iter()
        .map(|r| {
            json!({"session_id": r.get::<_, String>(0), "op_id": r.get::<_, i64>(1)}).to_string()
        })
        .collect();
    t.execute(
        "INSERT INTO outbox_events (event_id, event_type, session_id, payload)
         SELECT gen_random_uuid(), 'session.paid', v.id::uuid, v.p::jsonb
         FROM unnest($1::text[], $2::text[]) v(id, p)",
        &[&ids, &payloads],
    )
    .await?;
    let last = batch.last().map_or(0, |p| p.op_id);
    t.execute(
        "INSERT INTO stream_cursors (account, paging_token) VALUES ($1, $2)
         ON CONFLICT (account) DO UPDATE SET paging_token = excluded.paging_token, updated_at = now()",
        &[&account, &last],
    )
    .await?;
    t.commit().await?;
    Ok(())
}

/// Bulk SQL: one client per account, each settling its payments 200 at a time.
pub async fn bulk(db_url: &str, work: Vec<(AccountId, Vec<Paid>)>) -> anyhow::Result<Throughput> {
    let count: usize = work.iter().map(|(_, p)| p.len()).sum();
    let mut conns = Vec::new();
    for _ in &work {
        conns.push(connect(db_url).await?);
    }
    let started = Instant::now();
    let tasks: Vec<_> = work
        .into_iter()
        .zip(conns)
        .map(|((account, payments), mut db)| {
            tokio::spawn(async move {
                let account = account.to_string();
                for batch in payments.chunks(200) {
                    bulk_batch(&mut db, &account, batch).await?;
                }
                Ok::<_, anyhow::Error>(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok(Throughput::new(count as u64, started.elapsed()))
}

/// Create SQL: what a session creation must write (the session and its idempotency key with
/// the stored response), one transaction per request, from `clients` connections.
pub async fn create_sql(
    db_url: &str,
    account: &AccountId,
    requests: usize,
    clients: usize,
) -> anyhow::Result<Load> {
    let account = account.to_string();
    let mut conns = Vec::new();
    for _ in 0..clients {
        conns.push(connect(db_url).await?);
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let run = format!(
        "{:x}",
        std::process::id() as u64 ^ Instant::now().elapsed().as_nanos() as u64
    );
    let started = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut db| {
            let (next, account, run) = (next.clone(), account.clone(), run.clone());
            tokio::spawn(async move {
                let body = vec![b'x'; 600];
                let fingerprint = vec![7u8; 32];
                let mut latencies: Vec<Duration> = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= requests {
                        break;
                    }
                    let t0 = Instant::now();
                    let t = db.transaction().await?;
                    let id: String = t
                        .query_one(
                            "INSERT INTO sessions (account, reference, asset, amount, expires_at)
                             VALUES ($1, floor(random() * 9e18)::numeric, 'native', 100000000,
                                     now() + interval '1 hour')
                             RETURNING id::text",
                            &[&account],
                        )
                        .await?
                        .get(0);
                    t.execute(
                        "INSERT INTO idempotency_keys
                           (key, request_fingerprint, response_status, response_body, session_id)
                         VALUES ($1, $2, 201, $3, $4::text::uuid)",
                        &[
                            &format!("create-sql-{run}-{clients}-{i}"),
                            &fingerprint,
                            &body,
                            &id,
                        ],
                    )
                    .await?;
                    t.commit().await?;
                    latencies.push(t0.elapsed());
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(Load {
        concurrency: clients,
        throughput: Throughput::new(all.len() as u64, started.elapsed()),
        latency: Latency::of(all),
    })
}
