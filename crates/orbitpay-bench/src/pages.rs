//! The operator page at scale: a fresh database seeded in SQL (`generate_series`) with a
//! merchant's history (sessions over two months, their payments and events, the latest
//! events' webhook deliveries and attempts, unmatched payments, refunds, unreadable records),
//! a daemon on it, and every page requested over the admin socket, one at a time.
//!
//! The proportions: 60% of sessions paid (1 in 20 of those overpaid), 20% expired, 10%
//! pending, 10% cancelled, 0.1% processing; two events per paid session and one per other;
//! deliveries for the newest 200,000 events (0.5% dead, 0.5% retrying); one unmatched payment
//! per 100 sessions, a refund for 1 in 5 of them and for 1 in 10 overpaid sessions.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use orbitpay::config::now_token;
use orbitpay_core::{AccountId, Address, Amount, Asset, Memo, RefundOperation, RefundTx};
use orbitpay_horizon_sim::HorizonSim;
use orbitpay_testkit::TestDb;
use serde::Serialize;

use crate::child::Daemon;
use crate::fixture::connect;
use crate::say;
use crate::stats::Latency;

/// The page target: every page under this at p99.
pub const TARGET_MS: f64 = 50.0;

#[derive(Debug, Serialize)]
pub struct PageTiming {
    pub page: String,
    pub path: String,
    pub bytes: usize,
    pub latency: Latency,
}

#[derive(Debug, Serialize)]
pub struct PagesReport {
    pub sessions: i64,
    pub seed_seconds: f64,
    pub requests: usize,
    pub pages: Vec<PageTiming>,
}

impl PagesReport {
    pub fn rows(&self, t: &mut String) {
        use std::fmt::Write as _;
        for p in &self.pages {
            let _ = writeln!(
                t,
                "| Operator page at {} sessions: {} ({} requests, {} KiB) | p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms | | |",
                self.sessions,
                p.page,
                p.latency.samples,
                p.bytes / 1024,
                p.latency.p50_ms,
                p.latency.p99_ms,
                p.latency.max_ms
            );
        }
    }

    pub fn target(&self, t: &mut String) {
        use std::fmt::Write as _;
        let worst = self
            .pages
            .iter()
            .max_by(|a, b| a.latency.p99_ms.total_cmp(&b.latency.p99_ms));
        if let Some(w) = worst {
            let _ = writeln!(
                t,
                "- every operator page p99 < {TARGET_MS} ms at {} sessions: slowest {} {:.2} ms -> {}",
                self.sessions,
                w.page,
                w.latency.p99_ms,
                if w.latency.p99_ms < TARGET_MS {
                    "met"
                } else {
                    "MISSED"
                }
            );
        }
    }
}

/// An unsigned refund envelope as the API would store it, so the refunds page draws QR codes
/// of a real URI's size.
fn envelope(shop: AccountId, payer: AccountId) -> anyhow::Result<String> {
    Ok(RefundTx {
        source: shop,
        sequence: 4_294_967_297,
        fee: 1000,
        valid_until: 1_800_000_000,
        memo: Memo::Return([0xab; 32]),
        asset: Asset::Native,
        amount: Amount::from_stroops(30_000_000).context("amount")?,
        operation: RefundOperation::Payment {
            destination: Address::Account(payer),
        },
    }
    .to_xdr_base64()?)
}

/// Seeds `n` sessions of `shop` and everything around them. `$1` shop, `$2` n, `$3` payer,
/// `$4` an envelope.
const SEED: &[&str] = &[
    "INSERT INTO webhook_endpoints (url, is_default) VALUES ('https://shop.example/hook', true)
     ON CONFLICT DO NOTHING",
    // Sessions, one every 5 s back from now; the status by the reference.
    "INSERT INTO sessions (account, reference, asset, amount, amount_received, status,
         processing_tx_hash, processing_started_at, claim_source, expires_at, order_id,
         created_at, updated_at)
     SELECT $1, g::numeric, 'native', 10000000,
         CASE WHEN g % 10 < 6 THEN 10000000 + CASE WHEN g % 20 = 0 THEN 5000000 ELSE 0 END
              ELSE 0 END,
         (CASE WHEN g % 1000 = 999 THEN 'processing' WHEN g % 10 < 6 THEN 'paid'
               WHEN g % 10 < 8 THEN 'expired' WHEN g % 10 = 8 THEN 'pending'
               ELSE 'cancelled' END)::session_status,
         CASE WHEN g % 1000 = 999 THEN encode(sha256(('c' || g)::bytea), 'hex') END,
         CASE WHEN g % 1000 = 999 THEN now() END,
         CASE WHEN g % 1000 = 999 THEN 'stream' END,
         CASE WHEN g % 10 = 8 THEN now() + interval '1 day'
              ELSE now() - make_interval(secs => ($2 - g) * 5) + interval '1 hour' END,
         'order-' || g,
         now() - make_interval(secs => ($2 - g) * 5),
         now() - make_interval(secs => ($2 - g) * 5)
     FROM generate_series(1, $2::int8) g",
    "INSERT INTO payments (session_id, tx_hash, amount, asset, ledger, created_at)
     SELECT id, encode(sha256(('p' || reference::text)::bytea), 'hex'), amount_received,
         'native', (reference / 10 + 1000)::int, created_at + interval '30 seconds'
     FROM sessions WHERE status = 'paid' AND account = $1",
    "INSERT INTO payment_operations (account, op_id, payment_id, amount)
     SELECT $1, p.id * 4096 + 1, p.id, p.amount FROM payments p",
    "INSERT INTO outbox_events (event_id, event_type, session_id, payload, created_at)
     SELECT gen_random_uuid(), 'session.created', id, jsonb_build_object('session_id', id),
         created_at FROM sessions WHERE account = $1
     UNION ALL
     SELECT gen_random_uuid(), 'session.paid', s.id,
         jsonb_build_object('session_id', s.id, 'tx_hash', p.tx_hash), p.created_at
     FROM sessions s JOIN payments p ON p.session_id = s.id WHERE s.account = $1
     ORDER BY 5",
    // The newest 200,000 events were delivered (older ones are pruned), but for some dead or
    // retrying; each delivery with its attempts.
    "INSERT INTO webhook_deliveries (event_id, url, state, attempts, next_attempt_at,
         last_status, delivered_at, created_at)
     SELECT event_id, 'https://shop.example/hook',
         (CASE WHEN id % 200 = 0 THEN 'dead' WHEN id % 200 = 1 THEN 'pending'
               ELSE 'delivered' END)::webhook_delivery_state,
         CASE WHEN id % 200 = 0 THEN 8 WHEN id % 200 = 1 THEN 2 ELSE 1 END,
         now() + interval '1 day',
         CASE WHEN id % 200 IN (0, 1) THEN 503 ELSE 200 END,
         CASE WHEN id % 200 IN (0, 1) THEN NULL ELSE created_at + interval '1 second' END,
         created_at
     FROM (SELECT * FROM outbox_events ORDER BY id DESC LIMIT 200000) e",
    "INSERT INTO webhook_attempts (delivery_id, attempt, lease_owner, started_at, latency_ms,
         status, error)
     SELECT d.id, a, 'bench', d.created_at + make_interval(secs => a * 60), 40,
         d.last_status, CASE WHEN d.last_status = 503 THEN 'HTTP 503' END
     FROM webhook_deliveries d, generate_series(1, d.attempts) a",
    // One unmatched payment per 100 sessions, one every 500 s back from now.
    "INSERT INTO unmatched_payments (op_id, tx_hash, account, amount, asset, from_address,
         memo_type, memo_value, memo_bytes, reason, ledger, created_at, raw_operation)
     SELECT g * 4096 + 7, encode(sha256(('u' || g)::bytea), 'hex'), $1, 30000000, 'native', $3,
         CASE g % 3 WHEN 0 THEN 'text' WHEN 1 THEN 'id' ELSE 'none' END,
         CASE g % 3 WHEN 0 THEN 'order ' || g WHEN 1 THEN (g * 7)::text END,
         CASE g % 3 WHEN 0 THEN convert_to('order ' || g, 'UTF8') END,
         (ARRAY['no_reference', 'unknown_reference', 'already_paid',
                'session_expired'])[g % 4 + 1]::unmatched_reason,
         (g + 1000)::int, now() - make_interval(secs => ($2 / 100 - g) * 500),
         jsonb_build_object('id', (g * 4096 + 7)::text, 'type', 'payment', 'from', $3::text,
             'to', $1::text, 'amount', '3.0000000', 'asset_type', 'native')
     FROM generate_series(1, $2::int8 / 100) g",
    // Refunds of 1 in 5 unmatched payments: completed (resolving them), awaiting a signature
    // (all, or part), canceled. Ids are UUIDv7 of their creation time.
    "INSERT INTO refunds (id, unmatched_id, account, amount, asset, destination, memo_type,
         memo_value, memo_bytes, method, status, envelope_xdr, sequence, valid_until, tx_hash,
         closed_at, created_at, updated_at)
     SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7'
             || substr(md5(u.id::text), 1, 3) || '8' || substr(md5(u.id::text), 4, 15))::uuid,
         u.id, $1, CASE WHEN u.id % 20 = 15 THEN 10000000 ELSE 30000000 END, 'native', $3,
         'return', u.tx_hash, decode(u.tx_hash, 'hex'), 'payment',
         CASE u.id % 20 WHEN 0 THEN 'completed' WHEN 10 THEN 'canceled'
              ELSE 'awaiting_signature' END,
         $4, u.id, t + interval '15 minutes',
         CASE WHEN u.id % 20 = 0 THEN encode(sha256(('r' || u.id)::bytea), 'hex') END,
         CASE WHEN u.id % 20 = 0 THEN t + interval '5 minutes' END, t, t
     FROM (SELECT *, created_at + interval '1 hour' AS t FROM unmatched_payments
           WHERE id % 5 = 0 AND account = $1 AND $2::int8 > 0) u",
    // Refunds of the overpaid part of 1 in 10 overpaid sessions, most completed.
    "INSERT INTO refunds (id, session_id, account, amount, asset, destination, memo_type,
         method, status, envelope_xdr, sequence, valid_until, tx_hash, closed_at, created_at,
         updated_at)
     SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7'
             || substr(md5(s.id::text), 1, 3) || '9' || substr(md5(s.id::text), 4, 15))::uuid,
         s.id, $1, 5000000, 'native', $3, 'none', 'payment',
         CASE WHEN s.reference % 400 = 0 THEN 'awaiting_signature' ELSE 'completed' END,
         $4, s.reference, t + interval '15 minutes',
         CASE WHEN s.reference % 400 <> 0 THEN encode(sha256(('o' || s.id)::bytea), 'hex') END,
         CASE WHEN s.reference % 400 <> 0 THEN t + interval '5 minutes' END, t, t
     FROM (SELECT *, created_at + interval '1 hour' AS t FROM sessions
           WHERE account = $1 AND amount_received > amount AND reference % 200 = 0
             AND $2::int8 > 0) s",
    "INSERT INTO unreadable_records (account, paging_token, raw, parse_error, attempts)
     SELECT $1, g * 4096 + 9, convert_to('{\"id\": \"' || g || '\", \"amount\": \"x\"}', 'UTF8'),
         'amount: not a number', 2
     FROM generate_series(1, 5) g",
];

/// Seeds the database, starts a daemon on it and times each page over `requests` requests.
pub async fn measure(
    sim: &HorizonSim,
    horizon: &str,
    dir: &Path,
    shop: AccountId,
    payer: AccountId,
    sessions: i64,
    requests: usize,
) -> anyhow::Result<PagesReport> {
    say(format!("operator page: seeding {sessions} sessions"));
    let db = TestDb::new().await;
    let sql = connect(db.url()).await?;
    let t = Instant::now();
    let xdr = envelope(shop, payer)?;
    let (shop_s, payer_s) = (shop.to_string(), payer.to_string());
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&shop_s, &sessions, &payer_s, &xdr];
    for statement in SEED {
        sql.execute(*statement, &params[..count(statement)])
            .await
            .with_context(|| format!("seeding: {}", &statement[..60.min(statement.len())]))?;
    }
    sql.batch_execute("VACUUM (ANALYZE)").await?;
    sql.batch_execute("CHECKPOINT").await?;
    let seed_seconds = t.elapsed().as_secs_f64();
    say(format!("operator page: seeded in {seed_seconds:.0} s"));

    let pages = targets(&sql, &shop_s, sessions).await?;
    let daemon = Daemon::start(
        db.url(),
        horizon,
        dir,
        "pages",
        &[(shop_s.clone(), now_token(sim.latest_ledger()))],
        None,
    )
    .await?;
    let client = orbitpay_cli::Client::new(&daemon.socket)?;
    let mut out = Vec::new();
    for (page, path) in pages {
        let mut samples = Vec::with_capacity(requests);
        let mut bytes = 0;
        for i in 0..requests + 3 {
            let t = Instant::now();
            let r = client.get(&path).await?;
            let took = t.elapsed();
            anyhow::ensure!(
                r.status == 200,
                "{path}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
            bytes = r.body.len();
            // The first three warm the pool and the caches.
            if i >= 3 {
                samples.push(took);
            }
        }
        let latency = Latency::of(samples);
        say(format!(
            "operator page: {page}: p50 {:.2} ms, p99 {:.2} ms",
            latency.p50_ms, latency.p99_ms
        ));
        out.push(PageTiming {
            page: page.to_owned(),
            path,
            bytes,
            latency,
        });
    }
    daemon.stop().await?;
    drop(sql);
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(PagesReport {
        sessions,
        seed_seconds,
        requests,
        pages: out,
    })
}

/// How many of the four parameters a statement uses: each uses `$1..$k` (PostgreSQL cannot
/// type a parameter it is given but never meets).
fn count(statement: &str) -> usize {
    (1..=4)
        .rev()
        .find(|i| statement.contains(&format!("${i}")))
        .unwrap_or(0)
}

/// Each page and the path that draws it, from the seeded rows: a deep keyset page (half-way
/// down the paid sessions), searches that find one session, a session with a refund.
async fn targets(
    sql: &tokio_postgres::Client,
    shop: &str,
    sessions: i64,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let middle = sql
        .query_one(
            "SELECT id::text, reference::text, (extract(epoch FROM created_at) * 1000000)::int8,
                 (SELECT tx_hash FROM payments p WHERE p.session_id = s.id)
             FROM sessions s WHERE account = $1 AND status = 'paid'
             ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1",
            &[&shop, &(sessions * 3 / 10)],
        )
        .await
        .context("a session half-way down")?;
    let (id, reference, micros, tx): (String, String, i64, String) =
        (middle.get(0), middle.get(1), middle.get(2), middle.get(3));
    let refunded: String = sql
        .query_one(
            "SELECT session_id::text FROM refunds WHERE session_id IS NOT NULL
             ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await
        .context("a session with a refund")?
        .get(0);
    Ok(vec![
        ("overview", "/ui/".to_owned()),
        (
            "sessions: paid, first page",
            "/ui/sessions?q=paid".to_owned(),
        ),
        (
            "sessions: paid, deep keyset page",
            format!("/ui/sessions?q=paid&after={micros}_{id}"),
        ),
        ("search by tx hash", format!("/ui/sessions?q={tx}")),
        ("search by reference", format!("/ui/sessions?q={reference}")),
        ("search by id", format!("/ui/sessions?q={id}")),
        ("session page", format!("/ui/sessions/{refunded}")),
        ("money", "/ui/money".to_owned()),
        ("webhooks", "/ui/webhooks".to_owned()),
        ("refunds: awaiting signature", "/ui/refunds".to_owned()),
        (
            "refunds: completed",
            "/ui/refunds?status=completed".to_owned(),
        ),
    ])
}
