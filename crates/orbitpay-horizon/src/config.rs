//! Settings for the Horizon client and the per-account follower.
//!
//! Defaults suit SDF's public Horizon; tests shrink every duration so a whole suite of
//! reconnects, stalls and backoffs runs in seconds.

use std::time::Duration;

use url::Url;

/// How the Horizon client talks HTTP, plus how followers built on it behave.
#[derive(Debug, Clone)]
pub struct HorizonConfig {
    /// Horizon's root, e.g. `https://horizon.stellar.org/`. A path prefix is kept.
    pub base_url: Url,
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// Whole-request bound for REST calls (pages, root, transactions, effects). Never applied
    /// to streams: a stream is one long request.
    pub request_timeout: Duration,
    /// Largest REST body read into memory; beyond it the call fails instead of growing.
    pub max_body_bytes: usize,
    /// Largest SSE event (bytes between two blank lines); beyond it the connection is dropped.
    pub max_event_bytes: usize,
    /// `limit` query parameter of a stream: Horizon closes the stream after this many events.
    /// Larger means fewer routine reconnects; Horizon's maximum is 200.
    pub stream_limit: u32,
    pub follow: FollowConfig,
}

impl HorizonConfig {
    pub fn new(base_url: Url) -> Self {
        HorizonConfig {
            base_url,
            user_agent: concat!("orbitpay/", env!("CARGO_PKG_VERSION")).to_owned(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 64 << 20,
            max_event_bytes: 8 << 20,
            stream_limit: 200,
            follow: FollowConfig::default(),
        }
    }
}

/// The default of [`FollowConfig::unreadable_reads`].
pub const DEFAULT_UNREADABLE_READS: u32 = 5;

/// How one account's follower paces itself. Source-independent, so a Stellar RPC source can
/// reuse it.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// Records per catch-up page (Horizon: 1..=200); one page is one sink batch.
    pub page_limit: u32,
    /// Full-jitter exponential backoff: attempt `n` sleeps a random time in
    /// `[0, min(backoff_max, backoff_base * 2^n)]`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Upper bound on a server's `Retry-After`, so a hostile or buggy value cannot park an
    /// account for days.
    pub max_retry_after: Duration,
    /// Retry pace for a 404 on the account (Horizon has never seen it: usually not funded yet).
    pub not_found_retry: Duration,
    /// No byte (source level) or event (follower level) for this long is a stall. Horizon
    /// closes idle streams itself after ~55 s, so this must stay well above that in production.
    pub stall_timeout: Duration,
    /// How often the retention / network-reset check runs while following.
    pub retention_check_interval: Duration,
    /// A stored cursor more than this many ledgers ahead of Horizon's latest is a network
    /// reset. A little slack keeps a load-balanced replica that lags a few ledgers from
    /// halting ingestion.
    pub reset_tolerance_ledgers: u32,
    /// A stream that ends without delivering anything sooner than this waits this long before
    /// reconnecting, so a misbehaving proxy that closes at once cannot cause a hot loop.
    pub quick_close_delay: Duration,
    /// Reads of the same record, every one unreadable, before it is stored as unreadable and
    /// passed (at least 1). Until then it is a transient fault: the cursor stays, and the
    /// follower re-reads from it (a fresh page, or a reconnect) after a backoff of about
    /// `backoff_base * 2^n` (half of it jittered), so a line corrupted in transit once is
    /// credited normally. The default, 5, spends about 4-8 s before giving up.
    pub unreadable_reads: u32,
}

impl Default for FollowConfig {
    fn default() -> Self {
        FollowConfig {
            page_limit: 200,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(600),
            not_found_retry: Duration::from_secs(60),
            stall_timeout: Duration::from_secs(120),
            retention_check_interval: Duration::from_secs(600),
            reset_tolerance_ledgers: 12,
            quick_close_delay: Duration::from_secs(1),
            unreadable_reads: DEFAULT_UNREADABLE_READS,
        }
    }
}
