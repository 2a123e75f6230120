//! The ledger-source interface the follower and the matcher are written against.
//!
//! Horizon implements it today; a Stellar RPC source (`getEvents` / `getTransactions`) can be
//! added beside it without touching the follower or the matcher.
//!
//! It is an object-safe `async_trait` so the daemon can pick a source from configuration at
//! run time and share it as `Arc<dyn LedgerSource>` between every account's follower and the
//! transaction-lookup path. The cost (one boxed future per call) is nothing next to an HTTP
//! round trip.

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use orbitpay_core::{AccountId, Amount, Asset, LedgerRecord, TxHash, toid};

use crate::convert::RecordError;

/// Whose payments a follower reads: one account's (every operation it takes part in) or the
/// network's (every payment operation once, for routing to watched accounts in memory; see
/// `follower::network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Account(AccountId),
    Network,
}

impl Scope {
    /// One page of this scope's payments (see [`LedgerSource::payments_page`]).
    pub async fn page(
        &self,
        source: &dyn LedgerSource,
        cursor: i64,
        limit: u32,
    ) -> Result<PaymentsPage, SourceError> {
        match self {
            Scope::Account(account) => source.payments_page(account, cursor, limit).await,
            Scope::Network => source.network_payments_page(cursor, limit).await,
        }
    }

    /// This scope's live stream (see [`LedgerSource::stream_payments`]).
    pub async fn stream(
        &self,
        source: &dyn LedgerSource,
        cursor: i64,
    ) -> Result<EventStream, SourceError> {
        match self {
            Scope::Account(account) => source.stream_payments(account, cursor).await,
            Scope::Network => source.stream_network_payments(cursor).await,
        }
    }
}

/// The account's `G…` address, or `network`: what logs and status show.
impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Account(a) => a.fmt(f),
            Scope::Network => f.write_str("network"),
        }
    }
}

impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One record as a source delivers it: converted, or unreadable but reported.
pub type FetchedRecord = Result<LedgerRecord, RecordError>;

/// The resume token a fetched record carries, if any.
pub fn token_of(r: &FetchedRecord) -> Option<i64> {
    match r {
        Ok(rec) => Some(rec.op_id),
        Err(e) => e.paging_token,
    }
}

#[derive(Debug)]
pub struct PaymentsPage {
    /// In ascending paging-token order, as the source returned them.
    pub records: Vec<FetchedRecord>,
    /// The source's own "next" cursor (Horizon: `_links.next`). Informational: the follower
    /// never moves its cursor by it, only past records it handed to the sink.
    pub next_cursor: Option<i64>,
    /// The newest ledger the source had ingested when it served this page (Horizon: the
    /// `Latest-Ledger` header; Stellar RPC: `latestLedger`), if it said. A page that ends
    /// before `limit` holds every record through it. It comes with the page because the next
    /// request (`root`, another page) may reach another node behind a load balancer.
    pub latest_ledger: Option<u32>,
}

/// What the history a source holds spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootInfo {
    /// Oldest ledger still held: a cursor older than this may have lost records.
    pub elder_ledger: u32,
    /// Newest ledger ingested: a cursor beyond this means the network was reset.
    pub latest_ledger: u32,
    pub network_passphrase: Option<String>,
    pub version: Option<String>,
}

/// `cursor=now` without ever sending `now`: the token just after every operation of
/// `latest_ledger` (Horizon's `toid.AfterLedger`), so reading resumes with the next ledger.
pub fn now_token(latest_ledger: u32) -> i64 {
    toid::encode(latest_ledger, 0xF_FFFF, 0xFFF)
}

/// One item of a live stream. (Records dominate the stream and are moved once, so boxing them
/// would buy nothing.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum StreamEvent {
    /// The connection is established (Horizon's `hello`).
    Open,
    Record(FetchedRecord),
    /// The server ended the stream on purpose (Horizon's `byebye`): reconnect at once.
    Closed,
    /// The server reported an error after the stream began (plain text); the stream ends.
    ServerError(String),
}

/// A live stream. It ends (`None`) when the connection's body ends; an `Err` item is the last.
pub type EventStream = BoxStream<'static, Result<StreamEvent, SourceError>>;

/// The outcome of looking a transaction up by hash. Only a definite "the source does not know
/// it" is `NotFound`; anything that might be transient is `Unavailable`, so a caller never
/// concludes a payment does not exist because a request timed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxLookup {
    Confirmed {
        ledger: u32,
        /// The transaction's payment operations (as the payments endpoint reports them).
        records: Vec<LedgerRecord>,
    },
    Failed {
        ledger: u32,
    },
    NotFound,
    Unavailable(String),
}

/// One balance line of an account: native (no limit) or a trustline (its limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub asset: Asset,
    pub balance: Amount,
    /// `None` for the native balance, which has no trustline.
    pub limit: Option<Amount>,
    /// `false` when the issuer has not authorized (or has revoked) the trustline; such a line
    /// receives nothing.
    pub authorized: bool,
}

/// An account as the ledger holds it now: what a transaction it sends must build on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub account: AccountId,
    /// The current sequence number: the account's next transaction carries this + 1.
    pub sequence: i64,
    /// Trustlines and the native balance (liquidity-pool shares are left out).
    pub balances: Vec<Balance>,
}

impl AccountInfo {
    /// How much more of `asset` the account can receive: `None` without a trustline (or with
    /// an unauthorized one); for native, everything up to i64 stroops.
    pub fn room_for(&self, asset: &Asset) -> Option<Amount> {
        let line = self.balances.iter().find(|b| &b.asset == asset)?;
        if !line.authorized {
            return None;
        }
        let limit = line.limit.unwrap_or(Amount::MAX);
        Some(limit.saturating_sub(line.balance))
    }
}

/// The outcome of reading an account. As for [`TxLookup`], only a definite "no such account"
/// (Horizon's 404 problem) is `NotFound`; anything that might pass is `Unavailable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountLookup {
    Found(AccountInfo),
    NotFound,
    Unavailable(String),
}

/// Why a source call failed. Each kind implies a retry pace; none is fatal to a follower.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("rate limited (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    /// A 404. `problem` is true when the body was Horizon's problem+json `not_found`, as
    /// opposed to, say, a proxy's HTML page.
    #[error("not found: {detail}")]
    NotFound { detail: String, problem: bool },
    #[error("HTTP {status}: {detail}")]
    Status { status: u16, detail: String },
    /// A redirect to another origin (never followed: its data must not be credited).
    #[error("HTTP {status} redirect to {location:?}, another origin: not followed")]
    Redirect { status: u16, location: String },
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("transport error: {0}")]
    Transport(String),
    #[error("no bytes for {0:?}: stalled")]
    Stalled(Duration),
    #[error("response larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("unexpected content type {0:?}")]
    ContentType(String),
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The source cannot serve this (a network-wide list from a source without one).
    #[error("not supported by this source: {0}")]
    Unsupported(String),
    /// An `event: error` in a stream (its plain-text data).
    #[error("stream error event: {0}")]
    ErrorEvent(String),
}

#[async_trait]
pub trait LedgerSource: Send + Sync + 'static {
    /// A short name for logs and status (`horizon`).
    fn name(&self) -> &str;

    /// The span of history the source holds.
    async fn root(&self) -> Result<RootInfo, SourceError>;

    /// Records touching `account` strictly after `cursor`, ascending, at most `limit`.
    /// An empty page means "caught up".
    async fn payments_page(
        &self,
        account: &AccountId,
        cursor: i64,
        limit: u32,
    ) -> Result<PaymentsPage, SourceError>;

    /// A live stream of records strictly after `cursor`. Connection-level failures (status,
    /// content type, transport) are returned here, before any event.
    async fn stream_payments(
        &self,
        account: &AccountId,
        cursor: i64,
    ) -> Result<EventStream, SourceError>;

    /// Every payment operation of the network strictly after `cursor`, ascending, at most
    /// `limit`, each once whoever it pays (Horizon's `GET /payments`), not completed (see
    /// [`LedgerSource::complete_record`]). A source without a network-wide list answers
    /// `Unsupported` (the default).
    async fn network_payments_page(
        &self,
        _cursor: i64,
        _limit: u32,
    ) -> Result<PaymentsPage, SourceError> {
        Err(SourceError::Unsupported(format!(
            "{}: network-wide payments",
            self.name()
        )))
    }

    /// A live stream of the network's payment operations strictly after `cursor` (as
    /// [`LedgerSource::stream_payments`]; the default answers `Unsupported`).
    async fn stream_network_payments(&self, _cursor: i64) -> Result<EventStream, SourceError> {
        Err(SourceError::Unsupported(format!(
            "{}: network-wide payments stream",
            self.name()
        )))
    }

    /// Fills in what the network-wide lists leave out of a record (Horizon: an
    /// `account_merge`'s amount, from its effects: one request per merge, so the network's
    /// lists leave it to the caller, for the records routed to a watched account). An error
    /// means "try again later", never "there is nothing". The default has nothing to fill.
    async fn complete_record(&self, _rec: &mut LedgerRecord) -> Result<(), SourceError> {
        Ok(())
    }

    /// Looks a transaction up by hash (see [`TxLookup`]).
    async fn lookup_transaction(&self, hash: &TxHash) -> TxLookup;

    /// Reads an account's sequence number and balances (see [`AccountLookup`]).
    async fn account(&self, account: &AccountId) -> AccountLookup;

    /// When ledger `sequence` closed (unix seconds). A closed ledger's close time is the same
    /// on every node; one the source does not hold (not closed yet, past retention) is
    /// `NotFound`.
    async fn ledger_closed_at(&self, sequence: u32) -> Result<i64, SourceError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_after_the_latest_ledger_and_before_the_next() {
        let latest = 7000;
        assert!(now_token(latest) >= toid::encode(latest, 0xF_FFFF, 0xFFF));
        assert!(now_token(latest) < toid::encode(latest + 1, 1, 1));
        assert_eq!(toid::ledger(now_token(latest)), latest);
    }
}
