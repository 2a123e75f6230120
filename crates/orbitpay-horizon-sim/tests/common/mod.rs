//! Shared helpers for the simulator's integration tests: a world with every payment kind, a raw
//! HTTP client and a minimal SSE parser (tests read the exact bytes, not a library's view).

#![allow(dead_code)]

use std::time::Duration;

use futures::StreamExt;
use orbitpay_core::{AccountId, Asset, Memo, MuxedAccount};
use orbitpay_horizon_sim::{
    ClosedLedger, HorizonSim, Op, ServerHandle, SimConfig, Tx, derive_account, derive_contract,
    stroops, units,
};

pub struct World {
    pub sim: HorizonSim,
    pub server: ServerHandle,
    pub shop: AccountId,
    pub payer: AccountId,
    pub other: AccountId,
    pub ledgers: Vec<ClosedLedger>,
}

impl World {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.base_url(), path)
    }

    pub fn payments_url(&self, account: &AccountId, query: &str) -> String {
        self.url(&format!("/accounts/{account}/payments?{query}"))
    }
}

pub fn usdc() -> Asset {
    Asset::credit("USDC", &derive_account(99, 0).to_string()).unwrap()
}

pub fn long_asset() -> Asset {
    Asset::credit("Hello", &derive_account(99, 1).to_string()).unwrap()
}

/// A sim whose ledgers hold every payment kind the simulator emits, touching `shop`.
pub fn populated(
    config: SimConfig,
) -> (
    HorizonSim,
    AccountId,
    AccountId,
    AccountId,
    Vec<ClosedLedger>,
) {
    let sim = HorizonSim::new(config);
    let seed = sim.seed();
    let shop = derive_account(seed, 0);
    let payer = derive_account(seed, 1);
    let other = derive_account(seed, 2);
    let fresh = derive_account(seed, 3);
    let ledgers = vec![
        sim.close_ledger(vec![
            Tx::new(payer).op(Op::create_account(payer, shop, units(4))),
            Tx::new(payer)
                .memo(Memo::Id(7))
                .op(Op::payment(payer, shop, usdc(), units(39))),
        ]),
        sim.close_ledger(vec![
            Tx::new(payer)
                .memo_text(b"0,075% Daily for Holders".to_vec())
                .op(Op::payment(
                    payer,
                    MuxedAccount::new(shop, u64::MAX),
                    Asset::Native,
                    stroops(125_000_000),
                )),
            // Failed strict receive, like the pubnet fixture (native ← USDC ← SLT path).
            Tx::new(payer).failed().op(Op::path_payment_strict_receive(
                payer,
                shop,
                Asset::Native,
                units(2386),
                Asset::Native,
                units(2386),
            )
            .with_path(vec![usdc(), long_asset()])),
            Tx::new(payer)
                .memo(Memo::Hash([7; 32]))
                .op(Op::path_payment_strict_send(
                    payer,
                    shop,
                    Asset::Native,
                    units(57),
                    usdc(),
                    stroops(5045),
                )
                .with_path(vec![usdc()])
                .with_destination_min(stroops(4995))),
        ]),
        sim.close_ledger(vec![
            Tx::new(other)
                .memo(Memo::Return([9; 32]))
                .op(Op::account_merge(other, shop, units(100))),
            Tx::new(payer).op(Op::sac_transfer(
                payer,
                MuxedAccount::new(shop, 123_456_789),
                long_asset(),
                units(500),
            )),
            Tx::new(payer).op(Op::sac_transfer(
                payer,
                derive_contract(seed, 0),
                usdc(),
                units(1),
            )),
            // Multi-op: a non-payment op first, an outgoing payment, a self-payment, a create_account.
            Tx::new(shop)
                .memo_text(vec![b'a', 0xFF, 0, b'b'])
                .op(Op::manage_data(shop, "x"))
                .op(Op::payment(shop, payer, Asset::Native, units(1)))
                .op(Op::payment(shop, shop, Asset::Native, units(2)))
                .op(Op::create_account(shop, fresh, units(5))),
        ]),
    ];
    (sim, shop, payer, other, ledgers)
}

pub async fn world(config: SimConfig) -> World {
    let (sim, shop, payer, other, ledgers) = populated(config);
    let server = sim.serve("127.0.0.1:0").await.unwrap();
    World {
        sim,
        server,
        shop,
        payer,
        other,
        ledgers,
    }
}

pub fn fast_config(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        stream_timeout: Duration::from_millis(1500),
        ..SimConfig::default()
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

pub async fn sse_get(url: &str, last_event_id: Option<&str>) -> reqwest::Response {
    let mut req = client().get(url).header("Accept", "text/event-stream");
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id);
    }
    req.send().await.unwrap()
}

/// What reading a body to its end (or a deadline) gave.
#[derive(Debug)]
pub struct Read {
    pub text: String,
    /// The body ended with an error (connection dropped mid-body).
    pub error: bool,
    /// The deadline passed with the body still open.
    pub timed_out: bool,
    /// Time from the start of reading to the last byte received.
    pub last_byte_at: Duration,
    /// Number of body chunks received.
    pub chunks: usize,
}

pub async fn read_body(resp: reqwest::Response, deadline: Duration) -> Read {
    let start = tokio::time::Instant::now();
    let mut stream = resp.bytes_stream();
    let mut bytes = Vec::new();
    let mut error = false;
    let mut timed_out = false;
    let mut last = Duration::ZERO;
    let mut chunks = 0;
    loop {
        match tokio::time::timeout_at(start + deadline, stream.next()).await {
            Err(_) => {
                timed_out = true;
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                error = true;
                break;
            }
            Ok(Some(Ok(b))) => {
                chunks += 1;
                last = start.elapsed();
                bytes.extend_from_slice(&b);
            }
        }
    }
    Read {
        text: String::from_utf8_lossy(&bytes).into_owned(),
        error,
        timed_out,
        last_byte_at: last,
        chunks,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
    pub retry: Option<String>,
}

/// Splits complete events (terminated by a blank line); an unterminated tail is ignored.
pub fn events(text: &str) -> Vec<Event> {
    let mut out = Vec::new();
    let mut cur = Event::default();
    let mut any = false;
    let complete = match text.rfind("\n\n") {
        Some(i) => &text[..i + 2],
        None => return out,
    };
    for line in complete.split('\n') {
        if line.is_empty() {
            if any {
                out.push(std::mem::take(&mut cur));
                any = false;
            }
            continue;
        }
        any = true;
        let (field, value) = line.split_once(": ").unwrap_or((line, ""));
        match field {
            "id" => cur.id = Some(value.to_owned()),
            "event" => cur.event = Some(value.to_owned()),
            "retry" => cur.retry = Some(value.to_owned()),
            "data" => cur.data.push_str(value),
            other => panic!("unexpected SSE field {other:?} in {line:?}"),
        }
    }
    out
}

pub fn data_events(evs: &[Event]) -> Vec<&Event> {
    evs.iter().filter(|e| e.event.is_none()).collect()
}

pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let resp = client().get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// Walks `/accounts/{a}/payments` ascending by following `_links.next` until an empty page.
pub async fn walk(url: &str) -> (Vec<serde_json::Value>, usize) {
    let mut next = url.to_owned();
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let (status, page) = get_json(&next).await;
        assert_eq!(status, 200, "{next}: {page}");
        pages += 1;
        let recs = page["_embedded"]["records"].as_array().unwrap().clone();
        next = page["_links"]["next"]["href"].as_str().unwrap().to_owned();
        if recs.is_empty() {
            return (all, pages);
        }
        all.extend(recs);
        assert!(pages < 10_000, "paging does not terminate");
    }
}
