//! A deterministic Horizon simulator: a modelled Stellar ledger served over HTTP with Horizon's
//! REST and SSE wire format, plus fault injection. Use it in-process from tests or as the
//! `orbitpay-horizon-sim` binary.
//!
//! # Quick start
//!
//! ```no_run
//! use orbitpay_horizon_sim::{HorizonSim, SimConfig, Tx, Op, units, derive_account};
//! use orbitpay_core::{Asset, Memo, MuxedAccount};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let sim = HorizonSim::new(SimConfig { seed: 7, start_ledger: 1000, ..SimConfig::default() });
//! let shop = derive_account(7, 0);
//! let payer = derive_account(7, 1);
//! let closed = sim.close_ledger(vec![
//!     Tx::new(payer)
//!         .memo(Memo::Id(42))
//!         .op(Op::payment(payer, MuxedAccount::new(shop, 9), Asset::Native, units(12))),
//! ]);
//! let server = sim.serve("127.0.0.1:0").await?;
//! let url = format!("{}/accounts/{shop}/payments?join=transactions", server.base_url());
//! // ... point the client at `url` ...
//! # let _ = (closed, url);
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # What is served
//!
//! | Route | Notes |
//! |---|---|
//! | `GET /` | `history_latest_ledger`, `history_elder_ledger`, `core_latest_ledger`, `ingest_latest_ledger`, `history_latest_ledger_closed_at`, `network_passphrase`, protocol versions |
//! | `GET /accounts/{G}/payments` | `cursor`, `order`, `limit` (default 10, 1..=200), `include_failed`, `join=transactions`; REST page or SSE stream (`Accept: text/event-stream`) |
//! | `GET /payments` | the network's: every payment operation of every account, each once, with the same parameters, paging, streams, headers and faults as an account's |
//! | `GET /transactions/{hash}` | lowercase hex only (uppercase → 400); failed transactions too; unknown or past retention → 404 |
//! | `GET /transactions/{hash}/payments` | the payment ops of one transaction (failed included, as Horizon does) |
//! | `GET /operations/{id}/effects` | `account_created/removed/credited/debited` effects (the merge amount lives here) |
//! | `GET /accounts/{G}` | balances (trustlines with `limit`, then native), `sequence` (a string, bumped by every transaction the account sends); scripted with [`HorizonSim::set_native_balance`], [`HorizonSim::set_trustline`], [`HorizonSim::remove_account`]; unknown or removed → 404 |
//! | `GET /ledgers/{sequence}` | a closed ledger's `sequence`, `hash`, `closed_at`; not closed yet or past retention → 404 |
//!
//! Everything else is a 404 problem. Errors are `application/problem+json` with Horizon's
//! `type`/`title`/`status`/`detail`/`extras`. Every successful REST response carries Horizon's
//! `Latest-Ledger` header (the latest closed ledger when it was served). REST bodies are pretty-printed like Horizon's
//! (two-space indent, Go's `\u0026` escaping); SSE `data:` lines are one-line JSON.
//!
//! ## Paging semantics (as Horizon)
//! * Paging tokens are TOIDs: `ledger << 32 | tx_order << 12 | op_index`, order and index from 1.
//! * `cursor` and `Last-Event-ID` mean "strictly after"; `Last-Event-ID` overrides `cursor`;
//!   `cursor=now` means after the latest closed ledger; a negative cursor is a 400.
//! * `_links.next` is always present; catch-up ends on an empty `records` array.
//! * Retention ([`HorizonSim::set_history_elder_ledger`]): records below the elder ledger are
//!   never served. An ascending query from an older cursor silently starts at the elder
//!   ledger; a descending query whose cursor is at or below `toid(elder, 0, 0)` is a 410
//!   `before_history` (Horizon's `validateAndAdjustCursor`).
//! * Failed transactions are hidden unless `include_failed=true`.
//! * Unknown account (never a participant of any operation, nor a transaction source, nor
//!   [`HorizonSim::register_account`]ed) → 404.
//!
//! ## Streams
//! Every stream opens with `retry: 1000\nevent: open\ndata: "hello"\n\n`, then one
//! `id: <token>\ndata: <record>\n\n` per record (existing ones first, then live ones as ledgers
//! close), and ends with `retry: 10\nevent: close\ndata: "byebye"\n\n` after `limit` events or
//! when the connection timeout ([`SimConfig::stream_timeout`], default 55 s) fires. No
//! heartbeats. Streams are always ascending.
//!
//! ## The network's payments
//! `GET /payments` lists what Horizon's `history_operations` holds of the payment types: each
//! operation once, in paging-token order, whoever it pays. An account's list is the same
//! records filtered to the operations it takes part in (source or receiver), in the same
//! order and byte for byte. A contract (SAC) `invoke_host_function` that pays several accounts
//! is one record on `/payments` whose `asset_balance_changes` names every recipient, and
//! appears under the same id on each of their account lists (Horizon's participants). No
//! account is ever a 404 here. Its routes are [`RouteKind::Payments`] and
//! [`RouteKind::PaymentsStream`]; the rate limit, `Latest-Ledger`, the stream limits and
//! every fault apply as to an account's. [`HorizonSim::start_network_traffic`] makes a busy
//! network of it.
//!
//! ## Faults and the request log
//! [`HorizonSim::inject`] / [`HorizonSim::inject_for`] / [`HorizonSim::inject_times`] queue
//! [`Fault`]s; each is consumed by one matching request (FIFO): `Stall`, `DropMidEvent`,
//! `Status5xx(u16)`, `RateLimited { retry_after_secs }`, `ErrorEvent(text)` (streams only),
//! `MalformedDataLine`, `SlowDrip { chunk_bytes, interval }`, `Delay(d)`, `Redirect(url)`. Every request is
//! logged ([`HorizonSim::requests`], [`HorizonSim::request_count`],
//! [`HorizonSim::stream_last_event_ids`]) with its [`RouteKind`], query, headers and the fault
//! it consumed. Retention ([`HorizonSim::set_history_elder_ledger`]), testnet resets
//! ([`HorizonSim::reset_network`]), a cap on every stream's data events
//! ([`HorizonSim::set_stream_event_limit`]), records streams leave out ([`HorizonSim::skip_in_streams`])
//! and hashes whose lookups fail ([`HorizonSim::fail_transaction_lookups`]) are state changes
//! rather than queued faults.
//!
//! ## Determinism
//! Same seed + same calls → byte-identical responses, provided `_links` use the same base URL:
//! set [`SimConfig::base_url`] (otherwise links use `http://<Host header>`). Hashes are
//! `sha256(seed, network epoch, ledger, tx_order)`; ledger `n` closes at
//! `2024-06-01T00:00:00Z + 5 s × (n − start_ledger)`.
//!
//! ## Not modelled
//! XDR fields (`envelope_xdr`, `result_xdr`, `fee_meta_xdr`, signatures, host-function
//! parameters) are deterministic opaque base64, NOT decodable XDR; `result_meta_xdr` is omitted
//! as SDF's public Horizon omits it. No `/operations`, `/ledgers` collection endpoints, no
//! claimable balance entries, no sponsorship fields, no fee-bump transactions.

mod fault;
mod model;
mod ratelimit;
mod render;
mod script;
mod server;
mod traffic;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use orbitpay_core::AccountId;
use tokio::sync::watch;

pub use fault::{Fault, RequestRecord, RouteKind};
pub use model::{
    ClosedLedger, ClosedTx, IntoAddress, Op, OpKind, Tx, derive_account, derive_contract, stroops,
    units,
};
pub use ratelimit::RateLimit;
pub use render::{Problem, scrub_memo_text, to_compact, to_pretty};
pub use script::{Script, ScriptError};
pub use server::ServerHandle;

/// Testnet's passphrase, the default [`SimConfig::network_passphrase`].
pub const TESTNET_PASSPHRASE: &str = "Test SDF Network ; September 2015";

/// Construction parameters. `SimConfig::default()` = seed 0, first ledger 1000, 55 s stream
/// timeout, testnet passphrase, links from the `Host` header.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Drives hashes, [`HorizonSim::random_traffic`] and everything else random.
    pub seed: u64,
    /// The sequence the first [`HorizonSim::close_ledger`] creates. Before it, the latest (and
    /// elder) ledger is `start_ledger - 1`, empty.
    pub start_ledger: u32,
    /// How long a stream stays open before `byebye` (Horizon's `--connection-timeout`).
    pub stream_timeout: Duration,
    pub network_passphrase: String,
    /// Base URL used in `_links` (no trailing slash), e.g. `https://horizon-testnet.stellar.org`.
    /// `None`: `http://<Host header>`.
    pub base_url: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            start_ledger: 1000,
            stream_timeout: Duration::from_secs(55),
            network_passphrase: TESTNET_PASSPHRASE.to_owned(),
            base_url: None,
        }
    }
}

pub(crate) struct Settings {
    pub stream_timeout: Duration,
    /// Data events after which every stream says `byebye`, below the request's `limit`.
    pub stream_event_limit: Option<usize>,
    pub base_url: Option<String>,
    pub passphrase: String,
}

pub(crate) struct Inner {
    pub ledger: Mutex<model::Ledger>,
    pub faults: Mutex<fault::FaultQueue>,
    pub log: Mutex<Vec<RequestRecord>>,
    pub settings: Mutex<Settings>,
    pub changes: watch::Sender<u64>,
    pub rng: Mutex<traffic::Rng>,
    pub seq: AtomicU64,
    /// `None`: no limit (the default).
    pub limiter: Mutex<Option<ratelimit::Bucket>>,
    /// 429s the limiter has answered.
    pub rate_limited: AtomicU64,
    /// Operations every stream leaves out (REST pages still serve them).
    pub stream_skips: Mutex<std::collections::HashSet<i64>>,
    /// Transaction hashes whose lookups answer with this status.
    pub failing_lookups: Mutex<std::collections::HashMap<String, u16>>,
}

/// Network-wide background traffic for [`HorizonSim::start_network_traffic`].
#[derive(Debug, Clone)]
pub struct NetworkTraffic {
    /// Payments across the whole network per second (e.g. 200).
    pub payments_per_second: u32,
    /// Of those, how many in a thousand pay one of `watched` (10 = 1%).
    pub watched_per_mille: u32,
    pub watched: Vec<AccountId>,
    /// How often a ledger closes (Stellar: about 5 s).
    pub ledger_interval: Duration,
}

impl Default for NetworkTraffic {
    /// 200 payments/s, 1% of them to `watched` (empty), a ledger every 5 s.
    fn default() -> Self {
        NetworkTraffic {
            payments_per_second: 200,
            watched_per_mille: 10,
            watched: Vec::new(),
            ledger_interval: Duration::from_secs(5),
        }
    }
}

/// Running background traffic; dropping it (or [`TrafficHandle::stop`]) stops it.
pub struct TrafficHandle {
    task: tokio::task::JoinHandle<()>,
}

impl TrafficHandle {
    pub fn stop(self) {}
}

impl Drop for TrafficHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The simulator. Cheap to clone (shared state); every method takes `&self` and may be called
/// while servers are running: closing a ledger pushes new records to open streams.
#[derive(Clone)]
pub struct HorizonSim {
    pub(crate) inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Default for HorizonSim {
    fn default() -> Self {
        HorizonSim::new(SimConfig::default())
    }
}

impl HorizonSim {
    pub fn new(config: SimConfig) -> HorizonSim {
        let (changes, _) = watch::channel(0);
        HorizonSim {
            inner: Arc::new(Inner {
                ledger: Mutex::new(model::Ledger::new(config.seed, config.start_ledger)),
                faults: Mutex::new(fault::FaultQueue::default()),
                log: Mutex::new(Vec::new()),
                settings: Mutex::new(Settings {
                    stream_timeout: config.stream_timeout,
                    stream_event_limit: None,
                    base_url: config.base_url,
                    passphrase: config.network_passphrase,
                }),
                changes,
                rng: Mutex::new(traffic::Rng::new(config.seed)),
                seq: AtomicU64::new(0),
                limiter: Mutex::new(None),
                rate_limited: AtomicU64::new(0),
                stream_skips: Mutex::new(std::collections::HashSet::new()),
                failing_lookups: Mutex::new(std::collections::HashMap::new()),
            }),
        }
    }

    /// `HorizonSim::new` with this seed and the other defaults.
    pub fn with_seed(seed: u64) -> HorizonSim {
        HorizonSim::new(SimConfig {
            seed,
            ..SimConfig::default()
        })
    }

    pub(crate) fn ledger(&self) -> MutexGuard<'_, model::Ledger> {
        lock(&self.inner.ledger)
    }

    pub(crate) fn settings(&self) -> MutexGuard<'_, Settings> {
        lock(&self.inner.settings)
    }

    fn notify(&self) {
        self.inner.changes.send_modify(|v| *v += 1);
    }

    pub fn seed(&self) -> u64 {
        self.ledger().seed
    }

    // ----- the ledger ------------------------------------------------------------------------

    /// Closes the next ledger holding `txs` (applied in order; tx_order starts at 1) and wakes
    /// open streams. An empty vec closes an empty ledger. Panics on a transaction without
    /// operations or with more than 100.
    pub fn close_ledger(&self, txs: Vec<Tx>) -> ClosedLedger {
        let closed = self.ledger().close(txs);
        self.notify();
        closed
    }

    /// Closes `n` empty ledgers; returns the latest ledger sequence.
    pub fn close_empty_ledgers(&self, n: u32) -> u32 {
        let latest = {
            let mut l = self.ledger();
            for _ in 0..n {
                l.close(Vec::new());
            }
            l.latest
        };
        self.notify();
        latest
    }

    /// Closes ledgers holding `n_txs` seeded random transactions (1–4 per ledger) touching
    /// `accounts` plus seed-derived strangers: every payment kind, muxed destinations, every memo
    /// type, ~10% failed, outgoing, self and multi-op transactions. Deterministic for a seed and
    /// call sequence.
    pub fn random_traffic(&self, n_txs: usize, accounts: &[AccountId]) -> Vec<ClosedLedger> {
        let batches = {
            let mut rng = lock(&self.inner.rng);
            traffic::generate(&mut rng, n_txs, accounts)
        };
        let out = {
            let mut l = self.ledger();
            batches.into_iter().map(|b| l.close(b)).collect()
        };
        self.notify();
        out
    }

    /// Closes one ledger of network-wide traffic: `payments` one-payment transactions between
    /// a thousand seed-derived strangers, each paying one of `watched` instead with probability
    /// `watched_per_mille`/1000 (native, with a random id memo). Deterministic for a seed and
    /// call sequence. [`HorizonSim::start_network_traffic`] runs it on a clock.
    pub fn close_network_ledger(
        &self,
        payments: usize,
        watched: &[AccountId],
        watched_per_mille: u32,
    ) -> ClosedLedger {
        let txs = {
            let mut rng = lock(&self.inner.rng);
            traffic::network_ledger(&mut rng, payments, watched, watched_per_mille)
        };
        self.close_ledger(txs)
    }

    /// Background traffic: every `traffic.ledger_interval`, a ledger of
    /// `payments_per_second × interval` payments ([`HorizonSim::close_network_ledger`]), until
    /// the handle is stopped or dropped. Needs a tokio runtime.
    pub fn start_network_traffic(&self, traffic: NetworkTraffic) -> TrafficHandle {
        let sim = self.clone();
        let per_ledger = (f64::from(traffic.payments_per_second)
            * traffic.ledger_interval.as_secs_f64())
        .round() as usize;
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(traffic.ledger_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                sim.close_network_ledger(per_ledger, &traffic.watched, traffic.watched_per_mille);
            }
        });
        TrafficHandle { task }
    }

    /// The latest closed ledger (`history_latest_ledger`).
    pub fn latest_ledger(&self) -> u32 {
        self.ledger().latest
    }

    /// The oldest ledger served (`history_elder_ledger`).
    pub fn history_elder_ledger(&self) -> u32 {
        self.ledger().elder()
    }

    /// Simulates reaping: records of ledgers below `ledger` are no longer served (clamped to
    /// `[genesis, latest]`).
    pub fn set_history_elder_ledger(&self, ledger: u32) {
        self.ledger().retention_elder = ledger;
        self.notify();
    }

    /// Simulates a testnet reset: all history, accounts and hashes are gone; the next closed
    /// ledger is `start_ledger` (typically far below clients' stored cursors). Time keeps going
    /// forward. Open streams stay open (and see nothing until the sequence passes their cursor).
    pub fn reset_network(&self, start_ledger: u32) {
        self.ledger().reset(start_ledger);
        self.notify();
    }

    /// Makes an account "known" (no 404) without giving it any history.
    pub fn register_account(&self, account: AccountId) {
        self.ledger().known.insert(account);
    }

    /// Sets `account`'s native balance (making it exist). Balances are scripted: payments the
    /// ledger closes do not move them.
    pub fn set_native_balance(&self, account: AccountId, balance: orbitpay_core::Amount) {
        self.ledger().account_state_mut(account).native = balance;
    }

    /// Opens (or replaces) `account`'s trustline for `asset` with this balance and limit; a
    /// full one has `balance == limit`. `limit: None` is Horizon's default, the i64 maximum.
    pub fn set_trustline(
        &self,
        account: AccountId,
        asset: orbitpay_core::Asset,
        balance: orbitpay_core::Amount,
        limit: Option<orbitpay_core::Amount>,
    ) {
        let limit = limit.unwrap_or_else(|| {
            orbitpay_core::Amount::from_stroops(model::MAX_LIMIT).expect("positive")
        });
        self.ledger()
            .account_state_mut(account)
            .set_trustline(asset, balance, limit);
    }

    /// Closes `account`'s trustline for `asset`, if it has one.
    pub fn remove_trustline(&self, account: AccountId, asset: &orbitpay_core::Asset) {
        self.ledger()
            .account_state_mut(account)
            .remove_trustline(asset);
    }

    /// Makes `account` missing (as after a merge): `GET /accounts/{id}` answers 404. Its
    /// history is still served.
    pub fn remove_account(&self, account: AccountId) {
        self.ledger().removed.insert(account);
    }

    /// The sequence number `GET /accounts/{id}` would serve now (`None`: a 404).
    pub fn account_sequence(&self, account: &AccountId) -> Option<i64> {
        self.ledger().account_entry(account).map(|(seq, _)| seq)
    }

    /// Number of transactions stored (all, including failed and past retention).
    pub fn transaction_count(&self) -> usize {
        self.ledger().txs.len()
    }

    /// Number of payment-type operations stored.
    pub fn payment_count(&self) -> usize {
        self.ledger().payments.len()
    }

    /// A copy of a stored transaction by hash (retention ignored).
    pub fn transaction(&self, hash: &str) -> Option<(Tx, ClosedTx)> {
        let l = self.ledger();
        let i = *l.by_hash.get(hash)? as usize;
        let st = &l.txs[i];
        Some((
            st.tx.clone(),
            ClosedTx {
                hash: st.hash.clone(),
                ledger: st.ledger,
                tx_order: st.order,
                paging_token: st.paging_token(),
                op_ids: (1..=st.tx.ops.len() as u32)
                    .map(|j| orbitpay_core::toid::encode(st.ledger, st.order, j))
                    .collect(),
                successful: st.tx.successful,
            },
        ))
    }

    // ----- settings --------------------------------------------------------------------------

    /// Changes the stream connection timeout for streams opened from now on.
    /// Limits REST requests like Horizon's per-IP limiter (streams are exempt, as on
    /// Horizon); `None` lifts it. A new limit starts with a full bucket.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        *lock(&self.inner.limiter) = limit.map(|l| ratelimit::Bucket::new(l, Instant::now()));
    }

    /// How many requests the rate limit has refused with a 429.
    pub fn rate_limited_count(&self) -> u64 {
        self.inner.rate_limited.load(Ordering::Relaxed)
    }

    /// The limiter's verdict for one REST request, `None` without a limit.
    pub(crate) fn take_rate_limit(&self) -> Option<ratelimit::Verdict> {
        let verdict = lock(&self.inner.limiter).as_mut()?.take(Instant::now());
        if !verdict.allowed {
            self.inner.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        Some(verdict)
    }

    pub fn set_stream_timeout(&self, timeout: Duration) {
        self.settings().stream_timeout = timeout;
    }

    pub fn stream_timeout(&self) -> Duration {
        self.settings().stream_timeout
    }

    /// Every stream opened from now on ends with `byebye` after at most `limit` data events (at
    /// least 1), as Horizon does after a request's `limit`, whatever `limit` the client asked
    /// for (a smaller one still wins); `None`: only the request's `limit` (default 10).
    pub fn set_stream_event_limit(&self, limit: Option<usize>) {
        self.settings().stream_event_limit = limit.map(|n| n.max(1));
    }

    pub(crate) fn stream_event_limit(&self) -> Option<usize> {
        self.settings().stream_event_limit
    }

    /// Base URL for `_links` (`None`: from the `Host` header).
    pub fn set_base_url(&self, base_url: Option<String>) {
        self.settings().base_url = base_url.map(|s| s.trim_end_matches('/').to_owned());
    }

    // ----- faults ----------------------------------------------------------------------------

    /// Queues a fault for the next request of any route it applies to.
    pub fn inject(&self, fault: Fault) {
        lock(&self.inner.faults).push(fault::Target::Any, fault);
    }

    /// Queues a fault for the next request of route `kind`.
    pub fn inject_for(&self, kind: RouteKind, fault: Fault) {
        lock(&self.inner.faults).push(fault::Target::Kind(kind), fault);
    }

    /// Queues the same fault `times` times for route `kind` (e.g. three 503s in a row).
    pub fn inject_times(&self, kind: RouteKind, fault: Fault, times: usize) {
        let mut q = lock(&self.inner.faults);
        for _ in 0..times {
            q.push(fault::Target::Kind(kind), fault.clone());
        }
    }

    /// Every stream, now and later, leaves out the record with this paging token (as if the
    /// stream had missed it) and goes on with the next; REST pages still serve it. A state
    /// change rather than a queued fault: it holds for reconnects too. Models the gap that
    /// reconciliation heals.
    pub fn skip_in_streams(&self, op_id: i64) {
        lock(&self.inner.stream_skips).insert(op_id);
    }

    pub(crate) fn skipped_in_streams(&self, op_id: i64) -> bool {
        lock(&self.inner.stream_skips).contains(&op_id)
    }

    /// Every `GET /transactions/{hash}` (and `/payments`) for this hash answers with `status`
    /// (a problem, e.g. 503) until [`HorizonSim::heal_transaction_lookups`]. Whatever else the
    /// simulator serves is unaffected, the stream included.
    pub fn fail_transaction_lookups(&self, hash: &str, status: u16) {
        lock(&self.inner.failing_lookups).insert(hash.to_ascii_lowercase(), status);
    }

    /// Lookups of `hash` answer normally again.
    pub fn heal_transaction_lookups(&self, hash: &str) {
        lock(&self.inner.failing_lookups).remove(&hash.to_ascii_lowercase());
    }

    pub(crate) fn failing_lookup(&self, hash: &str) -> Option<u16> {
        lock(&self.inner.failing_lookups).get(hash).copied()
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// Number of queued, not yet consumed faults.
    pub fn pending_faults(&self) -> usize {
        lock(&self.inner.faults).len()
    }

    // ----- request log -----------------------------------------------------------------------

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.inner.log).clone()
    }

    /// The requests of one route kind.
    pub fn requests_for(&self, kind: RouteKind) -> Vec<RequestRecord> {
        lock(&self.inner.log)
            .iter()
            .filter(|r| r.kind == kind)
            .cloned()
            .collect()
    }

    /// How many requests of route `kind` arrived.
    pub fn request_count(&self, kind: RouteKind) -> usize {
        lock(&self.inner.log)
            .iter()
            .filter(|r| r.kind == kind)
            .count()
    }

    /// The `Last-Event-ID` header of each stream request (an account's or the network's), in
    /// order (None when not sent).
    pub fn stream_last_event_ids(&self) -> Vec<Option<String>> {
        lock(&self.inner.log)
            .iter()
            .filter(|r| r.kind.is_stream())
            .map(|r| r.last_event_id.clone())
            .collect()
    }

    pub fn clear_requests(&self) {
        lock(&self.inner.log).clear();
    }

    pub(crate) fn begin_request(
        &self,
        kind: RouteKind,
        uri: &axum::http::Uri,
        headers: &axum::http::HeaderMap,
    ) -> Option<Fault> {
        let fault = lock(&self.inner.faults).take(kind);
        let record = RequestRecord {
            seq: self.inner.seq.fetch_add(1, Ordering::SeqCst),
            kind,
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or("").to_owned(),
            last_event_id: headers
                .get("last-event-id")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            fault: fault.clone(),
        };
        let mut log = lock(&self.inner.log);
        // Keep memory bounded for long-running binaries.
        if log.len() >= 100_000 {
            log.drain(..50_000);
        }
        log.push(record);
        fault
    }

    // ----- serving ---------------------------------------------------------------------------

    /// The axum router serving this simulator (streams end when clients hang up; prefer
    /// [`HorizonSim::serve`], whose handle also ends streams on shutdown).
    pub fn router(&self) -> axum::Router {
        // The sender is dropped at once: a closed shutdown channel means "never shut down".
        let (_, rx) = watch::channel(false);
        server::router(self.clone(), rx)
    }

    /// Binds `addr` (e.g. `"127.0.0.1:0"`) and serves in a background task.
    pub async fn serve(&self, addr: &str) -> std::io::Result<ServerHandle> {
        server::serve(self.clone(), addr).await
    }
}
