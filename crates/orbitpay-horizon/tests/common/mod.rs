//! Shared by the integration tests: a recording sink, Horizon-shaped JSON and SSE builders,
//! and fast configs.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use orbitpay_core::{AccountId, toid};
use orbitpay_horizon::{
    Batch, FetchedRecord, FollowConfig, HorizonConfig, Phase, RecordSink, SinkError,
};
use serde_json::{Value, json};

pub const WATCHED: &str = "GAFK7XFZHMLSNV7OJTBO7BAIZA66X6QIBV5RMZZYXK4Q7ZSO52J5C3WQ";
pub const PAYER: &str = "GC5LF63GRVIT5ZXXCXLPI3RX2YXKJQFZVBSAO6AUELN3YIMSWPD6Z6FH";

pub fn watched() -> AccountId {
    WATCHED.parse().unwrap()
}

pub fn payments_path() -> String {
    format!("/accounts/{WATCHED}/payments")
}

/// A token in `ledger`, op `n` of its first transaction.
pub fn tok(ledger: u32, n: u32) -> i64 {
    toid::encode(ledger, 1, n)
}

/// A joined native payment record to the watched account.
pub fn payment_json(token: i64, stroops: i64) -> Value {
    let hash = format!("{:064x}", token);
    json!({
        "_links": {"self": {"href": format!("http://h/operations/{token}")}},
        "id": token.to_string(),
        "paging_token": token.to_string(),
        "transaction_successful": true,
        "source_account": PAYER,
        "type": "payment",
        "type_i": 1,
        "created_at": "2024-07-06T10:13:42Z",
        "transaction_hash": hash,
        "asset_type": "native",
        "from": PAYER,
        "to": WATCHED,
        "amount": format!("{}.{:07}", stroops / 10_000_000, stroops % 10_000_000),
        "transaction": {
            "id": hash, "paging_token": (token & !0xFFF).to_string(), "successful": true,
            "hash": hash, "ledger": toid::ledger(token), "memo_type": "id",
            "memo": (token as u64).to_string()
        }
    })
}

pub fn page_json(records: Vec<Value>) -> String {
    let next = records
        .last()
        .and_then(|r| r["paging_token"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "now".into());
    json!({
        "_links": {
            "self": {"href": "http://h/x"},
            "next": {"href": format!("http://h/accounts/{WATCHED}/payments?cursor={next}&limit=200&order=asc")},
            "prev": {"href": "http://h/x"}
        },
        "_embedded": {"records": records}
    })
    .to_string()
}

pub fn root_json(elder: u32, latest: u32) -> String {
    json!({
        "horizon_version": "test", "history_elder_ledger": elder,
        "history_latest_ledger": latest, "core_latest_ledger": latest,
        "network_passphrase": "Test SDF Network ; September 2015"
    })
    .to_string()
}

pub const HELLO: &str = "retry: 1000\nevent: open\ndata: \"hello\"\n\n";
pub const BYEBYE: &str = "retry: 10\nevent: close\ndata: \"byebye\"\n\n";

/// An SSE event with a valid `id:` and a `data:` line that is not JSON.
pub fn sse_garbage(token: i64) -> String {
    format!("id: {token}\ndata: {{\"type\":\"payment\",garbage\n\n")
}

/// A record that keeps its paging token but whose transaction hash cannot be read.
pub fn unreadable_json(token: i64) -> Value {
    let mut v = payment_json(token, 1);
    v["transaction_hash"] = Value::from("not a hash");
    v
}

pub fn sse_record(token: i64) -> String {
    format!("id: {token}\ndata: {}\n\n", payment_json(token, 10_000_000))
}

/// A chunked SSE body writer: each piece is cut in three and written separately, with a tiny
/// pause, so the client sees events split across reads.
pub fn sse_writer(
    pieces: Vec<String>,
) -> impl Fn(&mut dyn Write) -> std::io::Result<()> + Send + Sync + 'static {
    move |w: &mut dyn Write| {
        for p in &pieces {
            let b = p.as_bytes();
            let cuts = [0, b.len() / 3, 2 * b.len() / 3, b.len()];
            for win in cuts.windows(2) {
                if win[0] < win[1] {
                    w.write_all(&b[win[0]..win[1]])?;
                    w.flush()?;
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
        Ok(())
    }
}

pub fn fast_follow() -> FollowConfig {
    FollowConfig {
        page_limit: 200,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
        not_found_retry: Duration::from_millis(100),
        stall_timeout: Duration::from_secs(5),
        retention_check_interval: Duration::from_secs(3600),
        reset_tolerance_ledgers: 0,
        quick_close_delay: Duration::from_millis(20),
        // The default number of reads of an unreadable record (tests rely on it being 5).
        ..FollowConfig::default()
    }
}

pub fn fast_config(url: &str) -> HorizonConfig {
    let mut c = HorizonConfig::new(url.parse().unwrap());
    c.request_timeout = Duration::from_secs(2);
    c.connect_timeout = Duration::from_secs(1);
    c.follow = fast_follow();
    c
}

#[derive(Debug, Clone)]
pub struct SeenBatch {
    pub records: Vec<FetchedRecord>,
    pub up_to: i64,
    pub phase: Phase,
}

impl SeenBatch {
    pub fn tokens(&self) -> Vec<Option<i64>> {
        self.records
            .iter()
            .map(|r| match r {
                Ok(r) => Some(r.op_id),
                Err(e) => e.paging_token,
            })
            .collect()
    }
}

#[derive(Default)]
pub struct SinkLog {
    pub init: Option<i64>,
    pub batches: Vec<SeenBatch>,
    /// Answers for the next `handle_batch` calls (`None` = accept).
    pub script: VecDeque<Option<SinkError>>,
    pub calls: u64,
    /// How long each `handle_batch` takes, as a settlement does.
    pub settle_time: Duration,
}

/// Records everything; can be scripted to fail.
#[derive(Clone, Default)]
pub struct TestSink(pub Arc<Mutex<SinkLog>>);

impl TestSink {
    pub fn log(&self) -> std::sync::MutexGuard<'_, SinkLog> {
        self.0.lock().unwrap()
    }

    /// Every confirmed record's op id, in delivery order.
    pub fn op_ids(&self) -> Vec<i64> {
        self.log()
            .batches
            .iter()
            .flat_map(|b| b.records.iter())
            .filter_map(|r| r.as_ref().ok().map(|r| r.op_id))
            .collect()
    }

    pub fn last_up_to(&self) -> Option<i64> {
        self.log().batches.last().map(|b| b.up_to)
    }
}

#[async_trait]
impl RecordSink for TestSink {
    async fn initialise_cursor(&mut self, _: &AccountId, token: i64) -> Result<(), SinkError> {
        self.log().init = Some(token);
        Ok(())
    }

    async fn handle_batch(&mut self, _: &AccountId, batch: &Batch) -> Result<(), SinkError> {
        let settle_time = self.log().settle_time;
        if !settle_time.is_zero() {
            tokio::time::sleep(settle_time).await;
        }
        let mut log = self.log();
        log.calls += 1;
        if let Some(Some(e)) = log.script.pop_front() {
            return Err(e);
        }
        log.batches.push(SeenBatch {
            records: batch.records.clone(),
            up_to: batch.up_to,
            phase: batch.phase,
        });
        Ok(())
    }
}

/// Polls `cond` every 10 ms until it holds, panicking after `limit`.
pub async fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
