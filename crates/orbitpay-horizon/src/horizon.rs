//! [`LedgerSource`] over Horizon's REST and SSE API.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use eventsource_stream::Eventsource as _;
use futures::StreamExt;
use orbitpay_core::{AccountId, Amount, Asset, LedgerRecord, Operation, TxHash};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::config::HorizonConfig;
use crate::convert::record_from_value;
use crate::pacing::Pacer;
use crate::source::{
    AccountInfo, AccountLookup, Balance, EventStream, LedgerSource, PaymentsPage, RootInfo,
    SourceError, StreamEvent, TxLookup,
};
use crate::sse;
use crate::wire::{
    AccountResponse, EffectRecord, LedgerResponse, Page, Problem, RootResponse, TransactionRecord,
};

/// Error bodies are read only this far: enough for any problem+json.
const MAX_ERROR_BODY: usize = 64 << 10;
const JSON_ACCEPT: &str =
    "application/hal+json, application/json;q=0.9, application/problem+json;q=0.8";

#[derive(Debug, thiserror::Error)]
pub enum HorizonError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("Horizon base URL {0:?} must be an http(s) URL")]
    BaseUrl(String),
}

/// A Horizon client. Cheap to clone (shared inner state); one per Horizon, shared by every
/// follower and the lookup path.
#[derive(Clone)]
pub struct HorizonSource {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: HorizonConfig,
    /// REST: bounded by a whole-request timeout.
    rest: reqwest::Client,
    /// Streams: a per-read timeout only; a whole-request timeout would kill every stream.
    stream: reqwest::Client,
    /// Every REST request (pages, lookups, effects) draws on this one budget.
    pacer: Pacer,
}

impl std::fmt::Debug for HorizonSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HorizonSource")
            .field("base_url", &self.inner.cfg.base_url.as_str())
            .finish()
    }
}

/// Flattens a reqwest error with its causes ("error sending request" alone says nothing).
pub(crate) fn map_reqwest(e: &reqwest::Error) -> SourceError {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    if e.is_timeout() {
        SourceError::Timeout(msg)
    } else {
        SourceError::Transport(msg)
    }
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// `Retry-After` (whole seconds or an HTTP date), else Horizon's `X-RateLimit-Reset`.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    ["retry-after", "x-ratelimit-reset"].iter().find_map(|h| {
        let value = headers.get(*h)?.to_str().ok()?.trim();
        if !value.is_empty() && value.len() < 10 && value.bytes().all(|b| b.is_ascii_digit()) {
            return value.parse::<u64>().ok().map(Duration::from_secs);
        }
        let at = httpdate::parse_http_date(value).ok()?;
        Some(
            at.duration_since(std::time::SystemTime::now())
                .unwrap_or(Duration::ZERO),
        )
    })
}

/// Redirects are followed only within Horizon's own origin: data from another host must never
/// be ingested and credited. A cross-origin one comes back as the 3xx itself, which
/// [`HorizonSource::error_from`] turns into [`SourceError::Redirect`].
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if !same {
            attempt.stop()
        } else if attempt.previous().len() > 5 {
            attempt.error("more than 5 redirects")
        } else {
            attempt.follow()
        }
    })
}

/// Reads a body into memory, refusing to grow past `limit`.
async fn read_capped(resp: &mut reqwest::Response, limit: usize) -> Result<Vec<u8>, SourceError> {
    if resp.content_length().is_some_and(|l| l > limit as u64) {
        return Err(SourceError::TooLarge { limit });
    }
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| map_reqwest(&e))? {
        if buf.len() + chunk.len() > limit {
            return Err(SourceError::TooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

impl HorizonSource {
    pub fn new(cfg: HorizonConfig) -> Result<Self, HorizonError> {
        let mut cfg = cfg;
        if !matches!(cfg.base_url.scheme(), "http" | "https") || cfg.base_url.cannot_be_a_base() {
            return Err(HorizonError::BaseUrl(cfg.base_url.to_string()));
        }
        cfg.base_url.set_query(None);
        cfg.base_url.set_fragment(None);
        let build = |b: reqwest::ClientBuilder| {
            b.user_agent(cfg.user_agent.clone())
                .connect_timeout(cfg.connect_timeout)
                .redirect(same_origin_redirects())
                .build()
                .map_err(|e| HorizonError::Client(e.to_string()))
        };
        let rest = build(reqwest::Client::builder().timeout(cfg.request_timeout))?;
        let stream = build(reqwest::Client::builder().read_timeout(cfg.follow.stall_timeout))?;
        let pacer = Pacer::new(cfg.follow.max_retry_after);
        Ok(HorizonSource {
            inner: Arc::new(Inner {
                cfg,
                rest,
                stream,
                pacer,
            }),
        })
    }

    pub fn config(&self) -> &HorizonConfig {
        &self.inner.cfg
    }

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut u = self.inner.cfg.base_url.clone();
        if let Ok(mut segs) = u.path_segments_mut() {
            segs.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            u.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        u
    }

    /// A failed response as a [`SourceError`], reading at most a small body.
    async fn error_from(&self, mut resp: reqwest::Response) -> SourceError {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let ct = content_type(&headers);
        let body = tokio::time::timeout(
            self.inner.cfg.request_timeout,
            read_capped(&mut resp, MAX_ERROR_BODY),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
        let problem = ct
            .contains("json")
            .then(|| serde_json::from_slice::<Problem>(&body).ok())
            .flatten();
        let detail = match &problem {
            Some(p) => format!("{}: {}", p.title, p.detail.as_deref().unwrap_or("")),
            None => String::from_utf8_lossy(&body).chars().take(200).collect(),
        };
        match status {
            429 => {
                let retry_after = retry_after(&headers);
                self.inner
                    .pacer
                    .block(retry_after.unwrap_or(self.inner.cfg.follow.backoff_base));
                SourceError::RateLimited { retry_after }
            }
            300..=399 => {
                let location = headers
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect();
                tracing::error!(
                    status,
                    location = %location,
                    horizon = %self.inner.cfg.base_url,
                    "Horizon redirected to another origin; not followed (set horizon.url to the final address)"
                );
                SourceError::Redirect { status, location }
            }
            404 => SourceError::NotFound {
                detail,
                problem: problem.is_some_and(|p| p.kind() == "not_found"),
            },
            _ => SourceError::Status { status, detail },
        }
    }

    async fn get_json<T: DeserializeOwned>(&self, url: Url) -> Result<T, SourceError> {
        Ok(self.get_json_at(url).await?.0)
    }

    /// The body, and the ledger Horizon had ingested when it answered (its `Latest-Ledger`
    /// header): behind a load balancer, the next request may reach another node, further
    /// behind or ahead, so what a page says is true as of this ledger, and only this one.
    async fn get_json_at<T: DeserializeOwned>(
        &self,
        url: Url,
    ) -> Result<(T, Option<u32>), SourceError> {
        self.inner.pacer.wait().await;
        let mut resp = self
            .inner
            .rest
            .get(url)
            .header(ACCEPT, JSON_ACCEPT)
            .send()
            .await
            .map_err(|e| map_reqwest(&e))?;
        self.inner.pacer.observe(resp.headers());
        if resp.status() != reqwest::StatusCode::OK {
            return Err(self.error_from(resp).await);
        }
        let ct = content_type(resp.headers());
        if !ct.contains("json") {
            return Err(SourceError::ContentType(ct));
        }
        let latest = resp
            .headers()
            .get("latest-ledger")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok());
        let body = read_capped(&mut resp, self.inner.cfg.max_body_bytes).await?;
        let value =
            serde_json::from_slice(&body).map_err(|e| SourceError::Malformed(e.to_string()))?;
        Ok((value, latest))
    }

    /// Fills an `account_merge`'s amount from its `account_credited` effect. Leaves `None`
    /// only when Horizon answered and has no such effect (the matcher then records the merge
    /// as uninterpretable rather than guessing). When the effects cannot be fetched, the error
    /// fails the page or ends the stream, so the follower retries from its cursor: a passing
    /// outage must never turn a credit into a permanent "unsupported".
    async fn fill_merge_amount(&self, rec: &mut LedgerRecord) -> Result<(), SourceError> {
        let op_id = rec.op_id;
        let Operation::AccountMerge {
            into,
            amount: amount @ None,
            ..
        } = &mut rec.operation
        else {
            return Ok(());
        };
        let Some(into) = into.account() else {
            return Ok(());
        };
        let found = self.merge_credit(op_id, &into).await.inspect_err(|e| {
            tracing::warn!(op_id, tx_hash = %rec.tx_hash, error = %e, "cannot fetch account_merge effects");
        })?;
        if found.is_none() {
            tracing::warn!(op_id, tx_hash = %rec.tx_hash, "account_merge without an account_credited effect for its destination");
        }
        *amount = found;
        Ok(())
    }

    async fn merge_credit(
        &self,
        op_id: i64,
        into: &AccountId,
    ) -> Result<Option<Amount>, SourceError> {
        let url = self.url(
            &["operations", &op_id.to_string(), "effects"],
            &[("limit", "200".into())],
        );
        let page: Page<EffectRecord> = self.get_json(url).await?;
        let into = into.to_string();
        Ok(page
            .embedded
            .records
            .iter()
            .find(|e| {
                e.effect_type == "account_credited"
                    && e.account.as_deref() == Some(into.as_str())
                    && e.asset_type.as_deref().unwrap_or("native") == "native"
            })
            .and_then(|e| e.amount.as_deref())
            .and_then(|a| Amount::from_str(a).ok()))
    }

    /// `complete`: fill each `account_merge`'s amount (one effects request each); the
    /// network's lists leave that to the caller, for the few records it keeps.
    async fn records_of(
        &self,
        values: Vec<Value>,
        complete: bool,
    ) -> Result<Vec<crate::source::FetchedRecord>, SourceError> {
        let mut out = Vec::with_capacity(values.len());
        for v in values {
            let mut r = record_from_value(v, None);
            if let Ok(rec) = &mut r
                && complete
            {
                self.fill_merge_amount(rec).await?;
            }
            out.push(r);
        }
        Ok(out)
    }
}

impl HorizonSource {
    /// A page of `path`'s payments (an account's or the network's) from `cursor`;
    /// `complete` as in `records_of`.
    async fn page_at(
        &self,
        path: &[&str],
        cursor: i64,
        limit: u32,
        complete: bool,
    ) -> Result<PaymentsPage, SourceError> {
        let url = self.url(
            path,
            &[
                ("cursor", cursor.to_string()),
                ("order", "asc".into()),
                ("limit", limit.clamp(1, 200).to_string()),
                ("join", "transactions".into()),
            ],
        );
        let (page, latest_ledger): (Page<Value>, _) = self.get_json_at(url).await?;
        let next_cursor = page.next_cursor();
        let records = self.records_of(page.embedded.records, complete).await?;
        Ok(PaymentsPage {
            records,
            next_cursor,
            latest_ledger,
        })
    }

    /// The live stream of `path`'s payments (an account's or the network's) from `cursor`;
    /// `complete` as in `records_of`.
    async fn stream_at(
        &self,
        path: &[&str],
        cursor: i64,
        complete: bool,
    ) -> Result<EventStream, SourceError> {
        let cfg = &self.inner.cfg;
        let url = self.url(
            path,
            &[
                ("cursor", cursor.to_string()),
                ("limit", cfg.stream_limit.clamp(1, 200).to_string()),
                ("join", "transactions".into()),
            ],
        );
        // Last-Event-ID on every connection (it overrides `cursor` on Horizon): the resume
        // point is always the last durably handled token, never `now`.
        let req = self
            .inner
            .stream
            .get(url)
            .header(ACCEPT, "text/event-stream")
            .header("Last-Event-ID", cursor.to_string());
        let resp = match tokio::time::timeout(cfg.request_timeout, req.send()).await {
            Err(_) => {
                return Err(SourceError::Timeout(format!(
                    "no response headers within {:?}",
                    cfg.request_timeout
                )));
            }
            Ok(r) => r.map_err(|e| map_reqwest(&e))?,
        };
        if resp.status() != reqwest::StatusCode::OK {
            return Err(self.error_from(resp).await);
        }
        let ct = content_type(resp.headers());
        if !ct.starts_with("text/event-stream") {
            return Err(SourceError::ContentType(ct));
        }
        let bytes = sse::guard_bytes(
            resp.bytes_stream(),
            cfg.follow.stall_timeout,
            cfg.max_event_bytes,
        );
        let this = self.clone();
        let events = bytes
            .eventsource()
            .filter_map(|item| async move {
                match item {
                    Ok(ev) => sse::to_stream_event(ev).map(Ok),
                    Err(e) => Some(Err(sse::map_parse_error(e))),
                }
            })
            .then(move |item| {
                let this = this.clone();
                async move {
                    match item {
                        // An error item ends the stream; the follower reconnects from its cursor.
                        Ok(StreamEvent::Record(Ok(mut rec))) if complete => this
                            .fill_merge_amount(&mut rec)
                            .await
                            .map(|()| StreamEvent::Record(Ok(rec))),
                        other => other,
                    }
                }
            });
        Ok(events.boxed())
    }
}

/// Horizon's account resource as an [`AccountInfo`]. A record for another account, or with a
/// sequence or balance that does not parse, is an error: a refund must never be built on a
/// guess.
fn account_info(asked: &AccountId, r: AccountResponse) -> Result<AccountInfo, String> {
    if r.account_id != asked.to_string() {
        return Err(format!("Horizon answered for {:?}", r.account_id));
    }
    let sequence = r
        .sequence
        .parse::<i64>()
        .map_err(|e| format!("sequence {:?}: {e}", r.sequence))?;
    let mut balances = Vec::with_capacity(r.balances.len());
    for b in r.balances {
        if b.asset_type == "liquidity_pool_shares" {
            continue;
        }
        let asset = Asset::from_horizon(
            &b.asset_type,
            b.asset_code.as_deref(),
            b.asset_issuer.as_deref(),
        )
        .map_err(|e| format!("balance asset: {e}"))?;
        let balance =
            Amount::from_str(&b.balance).map_err(|e| format!("balance {:?}: {e}", b.balance))?;
        let limit = b
            .limit
            .as_deref()
            .map(Amount::from_str)
            .transpose()
            .map_err(|e| format!("limit: {e}"))?;
        balances.push(Balance {
            authorized: asset == Asset::Native || b.is_authorized.unwrap_or(true),
            asset,
            balance,
            limit,
        });
    }
    Ok(AccountInfo {
        account: *asked,
        sequence,
        balances,
    })
}

#[async_trait]
impl LedgerSource for HorizonSource {
    fn name(&self) -> &str {
        "horizon"
    }

    async fn root(&self) -> Result<RootInfo, SourceError> {
        let r: RootResponse = self.get_json(self.inner.cfg.base_url.clone()).await?;
        Ok(RootInfo {
            elder_ledger: r.history_elder_ledger,
            latest_ledger: r.history_latest_ledger,
            network_passphrase: r.network_passphrase,
            version: r.horizon_version,
        })
    }

    async fn payments_page(
        &self,
        account: &AccountId,
        cursor: i64,
        limit: u32,
    ) -> Result<PaymentsPage, SourceError> {
        self.page_at(
            &["accounts", &account.to_string(), "payments"],
            cursor,
            limit,
            true,
        )
        .await
    }

    async fn network_payments_page(
        &self,
        cursor: i64,
        limit: u32,
    ) -> Result<PaymentsPage, SourceError> {
        self.page_at(&["payments"], cursor, limit, false).await
    }

    async fn ledger_closed_at(&self, sequence: u32) -> Result<i64, SourceError> {
        let url = self.url(&["ledgers", &sequence.to_string()], &[]);
        let ledger: LedgerResponse = self.get_json(url).await?;
        if ledger.sequence != sequence {
            return Err(SourceError::Malformed(format!(
                "asked for ledger {sequence}, got {}",
                ledger.sequence
            )));
        }
        chrono::DateTime::parse_from_rfc3339(&ledger.closed_at)
            .map(|t| t.timestamp())
            .map_err(|e| SourceError::Malformed(format!("closed_at {:?}: {e}", ledger.closed_at)))
    }

    async fn stream_payments(
        &self,
        account: &AccountId,
        cursor: i64,
    ) -> Result<EventStream, SourceError> {
        self.stream_at(
            &["accounts", &account.to_string(), "payments"],
            cursor,
            true,
        )
        .await
    }

    async fn stream_network_payments(&self, cursor: i64) -> Result<EventStream, SourceError> {
        self.stream_at(&["payments"], cursor, false).await
    }

    async fn complete_record(&self, rec: &mut LedgerRecord) -> Result<(), SourceError> {
        self.fill_merge_amount(rec).await
    }

    async fn account(&self, account: &AccountId) -> AccountLookup {
        let url = self.url(&["accounts", &account.to_string()], &[]);
        let resp: AccountResponse = match self.get_json(url).await {
            Ok(r) => r,
            Err(SourceError::NotFound { problem: true, .. }) => return AccountLookup::NotFound,
            Err(e) => return AccountLookup::Unavailable(e.to_string()),
        };
        match account_info(account, resp) {
            Ok(info) => AccountLookup::Found(info),
            Err(e) => AccountLookup::Unavailable(format!("account {account}: {e}")),
        }
    }

    async fn lookup_transaction(&self, hash: &TxHash) -> TxLookup {
        // TxHash prints lowercase hex: Horizon answers 400 to uppercase.
        let hex = hash.to_string();
        let tx: TransactionRecord =
            match self.get_json(self.url(&["transactions", &hex], &[])).await {
                Ok(tx) => tx,
                Err(SourceError::NotFound { problem: true, .. }) => return TxLookup::NotFound,
                Err(e) => return TxLookup::Unavailable(e.to_string()),
            };
        // A fee-bump is found by its inner hash too; its operations carry the outer one.
        if !tx.is_known_as(hash) {
            return TxLookup::Unavailable(format!(
                "asked for {hex}, Horizon answered {:?}",
                tx.hash.chars().take(70).collect::<String>()
            ));
        }
        if !tx.successful {
            return TxLookup::Failed { ledger: tx.ledger };
        }
        let url = self.url(
            &["transactions", &hex, "payments"],
            &[("limit", "200".into()), ("join", "transactions".into())],
        );
        let page: Page<Value> = match self.get_json(url).await {
            Ok(p) => p,
            Err(e) => return TxLookup::Unavailable(format!("payments of {hex}: {e}")),
        };
        let fetched = match self.records_of(page.embedded.records, true).await {
            Ok(f) => f,
            Err(e) => return TxLookup::Unavailable(format!("effects of {hex}: {e}")),
        };
        let mut records = Vec::new();
        for r in fetched {
            match r {
                Ok(rec) => records.push(rec),
                // A lookup that silently dropped an operation could under-credit.
                Err(e) => return TxLookup::Unavailable(format!("payments of {hex}: {e}")),
            }
        }
        TxLookup::Confirmed {
            ledger: tx.ledger,
            records,
        }
    }
}
