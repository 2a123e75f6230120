//! This instance's view of its watched accounts: leadership role, the follower's live status
//! and catch-up progress. One [`StatusBoard`] per daemon instance, shared by the leaders (who
//! set roles), the ingest loops (who attach their follower and report progress), the metrics
//! refresher, the `STATUS=` line and the admin socket's `/v1/status` (through
//! [`crate::admin::IngestStatus`]).
//!
//! Nothing here is shared between instances: a standby instance reports `standby` for the
//! accounts another instance leads.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use orbitpay_core::AccountId;
use orbitpay_horizon::{FollowerState, FollowerStatus};
use orbitpay_store::outbox::OutboxDepth;
use tokio::time::Instant;

use crate::admin::{
    AccountStatus, AccountsSummary, CatchUpProgress, IngestStatus, JobRunView, NetworkStatus,
};
use crate::jobs::runs::JobBoard;

/// This instance's part in ingesting one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Another instance holds the account's lock (or we are still trying to take it).
    Standby,
    /// This instance ingests the account.
    Leading,
    /// This instance leads the account but its ingestion stopped for an operator to act.
    Halted { reason: String },
    /// Shut down.
    Stopped,
}

#[derive(Default)]
struct Entry {
    role: Option<Role>,
    follower: Option<Arc<FollowerStatus>>,
    catch_up: Option<CatchUpProgress>,
    lag_seconds: Option<f64>,
}

/// Network mode's follower, while this instance leads the network.
struct NetworkEntry {
    follower: Arc<FollowerStatus>,
    lag_seconds: Option<f64>,
}

#[derive(Default)]
pub struct StatusBoard {
    accounts: RwLock<BTreeMap<AccountId, Entry>>,
    network: RwLock<Option<NetworkEntry>>,
    jobs: Arc<JobBoard>,
}

impl StatusBoard {
    pub fn new(accounts: impl IntoIterator<Item = AccountId>) -> Arc<StatusBoard> {
        let board = StatusBoard::default();
        {
            let mut map = write(&board.accounts);
            for a in accounts {
                map.insert(
                    a,
                    Entry {
                        role: Some(Role::Standby),
                        ..Entry::default()
                    },
                );
            }
        }
        Arc::new(board)
    }

    pub fn set_role(&self, account: AccountId, role: Role) {
        let mut map = write(&self.accounts);
        let entry = map.entry(account).or_default();
        if role != Role::Leading {
            // A follower that stopped is no longer this instance's to report.
            if !matches!(role, Role::Halted { .. }) {
                entry.follower = None;
            }
            entry.catch_up = None;
        }
        entry.role = Some(role);
    }

    /// An account no longer watched leaves the board.
    pub fn forget(&self, account: &AccountId) {
        write(&self.accounts).remove(account);
    }

    pub fn role(&self, account: &AccountId) -> Option<Role> {
        read(&self.accounts)
            .get(account)
            .and_then(|e| e.role.clone())
    }

    /// The ingest loop publishes its follower's live status here when it starts following.
    pub fn attach_follower(&self, account: AccountId, status: Arc<FollowerStatus>) {
        write(&self.accounts).entry(account).or_default().follower = Some(status);
    }

    /// Network mode: the network's follower, whose status the accounts it covers share (an
    /// account in handover shows its own catch-up's instead).
    pub fn attach_network(&self, status: Arc<FollowerStatus>) {
        *write(&self.network) = Some(NetworkEntry {
            follower: status,
            lag_seconds: None,
        });
    }

    /// The network's follower stopped here (the lead was lost or given up).
    pub fn detach_network(&self) {
        *write(&self.network) = None;
    }

    /// Age of the last routed record the network's follower handled.
    pub fn set_network_lag(&self, lag_seconds: f64) {
        if let Some(n) = write(&self.network).as_mut() {
            n.lag_seconds = Some(lag_seconds);
        }
    }

    /// Catch-up progress (`None` once live). See [`CatchUpMeter`], which computes and logs it.
    pub fn set_catch_up(&self, account: AccountId, progress: Option<CatchUpProgress>) {
        write(&self.accounts).entry(account).or_default().catch_up = progress;
    }

    /// Age of the last handled record's ledger, when the ingest loop knows it.
    pub fn set_lag(&self, account: AccountId, lag_seconds: Option<f64>) {
        write(&self.accounts)
            .entry(account)
            .or_default()
            .lag_seconds = lag_seconds;
    }

    /// How many accounts this instance leads (including halted ones) out of all watched.
    pub fn leading(&self) -> (usize, usize) {
        let map = read(&self.accounts);
        let leading = map
            .values()
            .filter(|e| matches!(e.role, Some(Role::Leading | Role::Halted { .. })))
            .count();
        (leading, map.len())
    }

    /// The largest known lag among the accounts this instance leads.
    pub fn max_lag(&self) -> Option<f64> {
        self.accounts()
            .into_iter()
            .filter_map(|a| a.lag_seconds)
            .fold(None, |m, l| Some(m.map_or(l, |m: f64| m.max(l))))
    }

    /// Where the periodic jobs record their runs.
    pub fn jobs(&self) -> Arc<JobBoard> {
        self.jobs.clone()
    }

    pub fn followers(&self) -> Vec<Arc<FollowerStatus>> {
        read(&self.accounts)
            .values()
            .filter_map(|e| e.follower.clone())
            .collect()
    }
}

impl IngestStatus for StatusBoard {
    fn jobs(&self) -> Vec<JobRunView> {
        self.jobs
            .last_runs()
            .into_iter()
            .map(|r| JobRunView {
                job: r.job.to_owned(),
                started_at: r.started_at,
                duration_seconds: r.duration_seconds,
                outcome: r.outcome.as_str().to_owned(),
                counts: r
                    .counts
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
                notes: r.notes,
                error: r.error,
            })
            .collect()
    }

    fn network(&self) -> Option<NetworkStatus> {
        let network = read(&self.network);
        let n = network.as_ref()?;
        let s = n.follower.snapshot();
        let handover = read(&self.accounts)
            .values()
            .filter(|e| {
                e.follower
                    .as_ref()
                    .is_some_and(|f| !Arc::ptr_eq(f, &n.follower))
            })
            .count();
        let reason = match &s.state {
            FollowerState::Halted { reason } => Some(reason.to_string()),
            FollowerState::BackingOff { reason } => Some(reason.clone()),
            _ => None,
        };
        let lag_seconds = n.lag_seconds.or(match s.state {
            FollowerState::Streaming => Some(0.0),
            _ => None,
        });
        Some(NetworkStatus {
            cursor: s.cursor,
            ledger: s.last_ledger,
            lag_seconds,
            state: state_name(&s.state).to_owned(),
            reason,
            handover,
        })
    }

    fn accounts(&self) -> Vec<AccountStatus> {
        read(&self.accounts)
            .iter()
            .map(|(account, e)| {
                let snapshot = e.follower.as_ref().map(|f| f.snapshot());
                let reason = match (&e.role, snapshot.as_ref().map(|s| &s.state)) {
                    (_, Some(FollowerState::Halted { reason })) => Some(reason.to_string()),
                    (Some(Role::Halted { reason }), _) => Some(reason.clone()),
                    (Some(Role::Leading), Some(FollowerState::BackingOff { reason })) => {
                        Some(reason.clone())
                    }
                    _ => None,
                };
                let retrying_since = snapshot
                    .as_ref()
                    .and_then(|s| s.retrying_since_unix_ms)
                    .and_then(chrono::DateTime::from_timestamp_millis);
                let state = match (&e.role, &snapshot) {
                    (Some(Role::Halted { .. }), _) => "halted".to_owned(),
                    (Some(Role::Stopped), _) => "stopped".to_owned(),
                    (Some(Role::Standby) | None, _) => "standby".to_owned(),
                    (Some(Role::Leading), Some(s)) => state_name(&s.state).to_owned(),
                    (Some(Role::Leading), None) => "starting".to_owned(),
                };
                let lag_seconds = e.lag_seconds.or_else(|| {
                    // Without a figure from the ingest loop: streaming live means caught up.
                    match snapshot.as_ref().map(|s| &s.state) {
                        Some(FollowerState::Streaming) if e.catch_up.is_none() => Some(0.0),
                        _ => None,
                    }
                });
                AccountStatus {
                    account: *account,
                    cursor: snapshot.as_ref().and_then(|s| s.cursor),
                    ledger: snapshot.as_ref().and_then(|s| s.last_ledger),
                    lag_seconds,
                    state,
                    reason,
                    retrying_since,
                    gap: snapshot.as_ref().is_some_and(|s| s.gap),
                    reset: snapshot.as_ref().is_some_and(|s| s.reset),
                    catch_up: e.catch_up.clone(),
                }
            })
            .collect()
    }
}

/// At most this many accounts are named on the `STATUS=` line; the rest are counted.
pub const STATUS_NOTES_MAX: usize = 5;

/// `STATUS=` text: leadership and the accounts by state, then the accounts that are not simply
/// following, the most serious first and at most [`STATUS_NOTES_MAX`] of them (halted with why,
/// retrying with its reason and since when, catching up with its percent and ETA, a gap or a
/// reset), the worst lag and the outbox depth. Long reasons are cut: systemctl shows one line.
pub fn status_line(board: &StatusBoard, outbox: Option<OutboxDepth>) -> String {
    let summary = AccountsSummary::of(board.accounts(), STATUS_NOTES_MAX);
    let now = chrono::Utc::now();
    let short = |a: &AccountId| {
        let s = a.to_string();
        format!("{}…{}", &s[..4], &s[s.len() - 4..])
    };
    let cut = |r: &str| r.chars().take(80).collect::<String>();
    let counts: Vec<String> = summary
        .by_state
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(state, n)| format!("{n} {state}"))
        .collect();
    let mut notes: Vec<String> = Vec::new();
    if !counts.is_empty() {
        notes.push(counts.join(", "));
    }
    for a in &summary.not_following {
        let who = short(&a.account);
        let reason = || cut(a.reason.as_deref().unwrap_or("unknown"));
        notes.push(match a.state.as_str() {
            "catching_up" => format!(
                "{who} catching up {} eta {}",
                a.catch_up
                    .as_ref()
                    .and_then(|c| c.percent)
                    .map_or("?".to_owned(), |p| format!("{p:.0}%")),
                a.catch_up
                    .as_ref()
                    .and_then(|c| c.eta_seconds)
                    .map_or("?".to_owned(), |e| format!("{e:.0}s"))
            ),
            "backing_off" => format!(
                "{who} retrying{}: {}",
                a.retrying_for(now)
                    .map_or(String::new(), |d| format!(" {}s", d.as_secs())),
                reason()
            ),
            "halted" => format!("{who} halted: {}", reason()),
            _ if a.reset => format!("{who} network reset"),
            _ => format!("{who} retention gap"),
        });
    }
    if summary.not_following_omitted > 0 {
        notes.push(format!(
            "+{} more not following",
            summary.not_following_omitted
        ));
    }
    let lag = summary
        .max_lag_seconds
        .map_or("n/a".to_owned(), |l| format!("{l:.0}s"));
    let outbox = outbox.map_or("n/a".to_owned(), |d| {
        let dead = if d.dead > 0 {
            format!(", {} dead", d.dead)
        } else {
            String::new()
        };
        format!(
            "{} (oldest {:.0}s{dead})",
            d.undelivered, d.oldest_age_seconds
        )
    });
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    };
    format!(
        "leading {}/{} accounts{notes}; max lag {lag}; outbox {outbox}",
        summary.leading, summary.total
    )
}

fn state_name(state: &FollowerState) -> &'static str {
    match state {
        FollowerState::Starting => "starting",
        FollowerState::CatchingUp => "catching_up",
        FollowerState::Streaming => "streaming",
        FollowerState::BackingOff { .. } => "backing_off",
        FollowerState::Halted { .. } => "halted",
        FollowerState::Stopped => "stopped",
    }
}

/// Computes catch-up rate and ETA, publishes them on the [`StatusBoard`], and logs a progress
/// line at most every `log_every`. The ingest loop calls [`CatchUpMeter::observe`] after each
/// page and [`CatchUpMeter::finish`] when it goes live.
pub struct CatchUpMeter {
    board: Arc<StatusBoard>,
    account: AccountId,
    log_every: Duration,
    started: Instant,
    first_ledger: Option<u32>,
    last_log: Option<Instant>,
    records: u64,
}

impl CatchUpMeter {
    pub fn new(board: Arc<StatusBoard>, account: AccountId) -> CatchUpMeter {
        CatchUpMeter {
            board,
            account,
            log_every: Duration::from_secs(5),
            started: Instant::now(),
            first_ledger: None,
            last_log: None,
            records: 0,
        }
    }

    /// `records` handled since the last call; `ledger` reached; Horizon's `latest_ledger`.
    pub fn observe(&mut self, records: u64, ledger: u32, latest_ledger: u32) -> CatchUpProgress {
        self.records += records;
        let first = *self.first_ledger.get_or_insert(ledger);
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = self.records as f64 / elapsed;
        let ledgers_done = ledger.saturating_sub(first) as f64;
        let ledgers_left = latest_ledger.saturating_sub(ledger) as f64;
        let eta_seconds = (ledgers_done > 0.0).then(|| ledgers_left / (ledgers_done / elapsed));
        let span = latest_ledger.saturating_sub(first) as f64;
        let percent = (span > 0.0).then(|| (100.0 * ledgers_done / span).min(100.0));
        let progress = CatchUpProgress {
            records: self.records,
            ledger,
            latest_ledger,
            rate,
            percent,
            eta_seconds,
        };
        self.board
            .set_catch_up(self.account, Some(progress.clone()));
        let due = self.last_log.is_none_or(|t| t.elapsed() >= self.log_every);
        if due {
            self.last_log = Some(Instant::now());
            tracing::info!(
                account = %self.account,
                records = self.records,
                ledger,
                latest_ledger,
                rate = format!("{rate:.1}/s"),
                percent = percent.map(|p| format!("{p:.1}%")),
                eta_seconds = eta_seconds.map(|e| e.round()),
                "catching up"
            );
        }
        progress
    }

    /// Caught up: clears the progress and logs a summary.
    pub fn finish(&mut self) {
        self.board.set_catch_up(self.account, None);
        if self.records > 0 {
            tracing::info!(
                account = %self.account,
                records = self.records,
                seconds = self.started.elapsed().as_secs(),
                "caught up"
            );
        }
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_status_line_names_at_most_a_few_accounts_not_following() {
        let accounts: Vec<AccountId> = (0..20u8).map(|i| AccountId::from_bytes([i; 32])).collect();
        let board = StatusBoard::new(accounts.clone());
        for a in &accounts {
            board.set_role(
                *a,
                Role::Halted {
                    reason: "bad record".into(),
                },
            );
        }
        let line = status_line(&board, None);
        assert_eq!(
            line.matches("halted: bad record").count(),
            STATUS_NOTES_MAX,
            "{line}"
        );
        assert!(line.contains("+15 more not following"), "{line}");
    }

    #[test]
    fn a_thousand_accounts_make_one_short_line_counted_by_state() {
        let accounts: Vec<AccountId> = (0..1_000u32)
            .map(|i| {
                let mut bytes = [3u8; 32];
                bytes[..4].copy_from_slice(&i.to_be_bytes());
                AccountId::from_bytes(bytes)
            })
            .collect();
        let board = StatusBoard::new(accounts.clone());
        for (i, a) in accounts.iter().enumerate().take(600) {
            board.set_role(*a, Role::Leading);
            board.set_lag(*a, Some(i as f64 / 100.0));
        }
        for a in &accounts[590..600] {
            board.set_role(
                *a,
                Role::Halted {
                    reason: "x".repeat(500),
                },
            );
        }
        let line = status_line(&board, None);
        assert!(
            line.starts_with("leading 600/1000 accounts (10 halted, 400 standby, 590 starting; "),
            "{line}"
        );
        assert_eq!(
            line.matches(" halted: ").count(),
            STATUS_NOTES_MAX,
            "{line}"
        );
        assert!(line.contains("; +5 more not following)"), "{line}");
        assert!(line.ends_with("; max lag 6s; outbox n/a"), "{line}");
        assert!(line.chars().count() < 1_000, "{} chars: {line}", line.len());
    }

    use super::*;

    fn account() -> AccountId {
        "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7"
            .parse()
            .unwrap()
    }

    #[test]
    fn roles_show_in_status() {
        let board = StatusBoard::new([account()]);
        assert_eq!(board.accounts()[0].state, "standby");
        assert_eq!(board.leading(), (0, 1));
        board.set_role(account(), Role::Leading);
        assert_eq!(board.accounts()[0].state, "starting");
        board.set_role(account(), Role::Halted { reason: "x".into() });
        assert!(board.accounts()[0].is_halted());
        assert_eq!(board.leading(), (1, 1));
    }

    #[test]
    fn status_and_the_status_line_say_why() {
        let board = StatusBoard::new([account()]);
        board.set_role(account(), Role::Leading);
        assert_eq!(
            status_line(&board, None),
            "leading 1/1 accounts (1 starting); max lag n/a; outbox n/a"
        );
        board.set_role(
            account(),
            Role::Halted {
                reason: "ingestion halted: constraint violation".into(),
            },
        );
        let status = &board.accounts()[0];
        assert_eq!(
            status.reason.as_deref(),
            Some("ingestion halted: constraint violation")
        );
        let line = status_line(&board, None);
        assert!(
            line.starts_with(
                "leading 1/1 accounts (1 halted; GAAZ…CWN7 halted: ingestion halted: constraint violation)"
            ),
            "{line}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn catch_up_meter_estimates() {
        let board = StatusBoard::new([account()]);
        let mut meter = CatchUpMeter::new(board.clone(), account());
        meter.observe(100, 1000, 2000);
        tokio::time::advance(Duration::from_secs(10)).await;
        let p = meter.observe(100, 1100, 2000);
        assert_eq!(p.records, 200);
        // 100 ledgers in 10 s, 900 left: 90 s.
        let eta = p.eta_seconds.unwrap();
        assert!((eta - 90.0).abs() < 1.0, "{eta}");
        assert!(board.accounts()[0].catch_up.is_some());
        meter.finish();
        assert!(board.accounts()[0].catch_up.is_none());
    }
}
