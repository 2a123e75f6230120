//! The watched accounts' figures, on a bounded number of series whatever the number of
//! accounts: counts by state, lag quantiles, stream counters summed over the followers, and
//! per-account gauges only for the `metrics.account_series` worst accounts by lag.
//!
//! The `metrics` facade cannot unregister a series, so a per-account gauge that leaves the
//! worst set is simply no longer set: the recorder's idle timeout on gauges
//! ([`super::install`]) drops it from `/metrics` a few refreshes later. The same timeout
//! drops an account's series once it is removed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use orbitpay_horizon::{FollowerStatus, StatusSnapshot};

use crate::admin::{ACCOUNT_STATES, AccountStatus, IngestStatus as _};
use crate::status::StatusBoard;

/// The stream counters summed over followers, as the follower counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    records: u64,
    reconnects: u64,
    stalls: u64,
    errors: u64,
    gaps_detected: u64,
}

impl Counts {
    fn of(s: &StatusSnapshot) -> Counts {
        Counts {
            records: s.records,
            reconnects: s.reconnects,
            stalls: s.stalls,
            errors: s.errors,
            gaps_detected: s.gaps_detected,
        }
    }

    fn since(self, before: Counts) -> Counts {
        Counts {
            records: self.records.saturating_sub(before.records),
            reconnects: self.reconnects.saturating_sub(before.reconnects),
            stalls: self.stalls.saturating_sub(before.stalls),
            errors: self.errors.saturating_sub(before.errors),
            gaps_detected: self.gaps_detected.saturating_sub(before.gaps_detected),
        }
    }
}

/// What the refresher remembers between ticks: the followers seen last time and their counts,
/// so the unlabelled counters move by each follower's increase and never go backwards when a
/// follower ends (a follower that left the board is read one last time from the handle kept
/// here).
pub struct AccountMetrics {
    series: usize,
    seen: HashMap<usize, (Arc<FollowerStatus>, Counts)>,
}

impl AccountMetrics {
    /// `series`: how many accounts get gauges of their own (`metrics.account_series`).
    pub fn new(series: usize) -> AccountMetrics {
        AccountMetrics {
            series,
            seen: HashMap::new(),
        }
    }

    pub fn refresh(&mut self, board: &StatusBoard) {
        let accounts = board.accounts();
        states(&accounts);
        lag(&accounts);
        self.worst(&accounts);
        self.counters(board.followers());
    }

    /// Per-account gauges for the worst `series` accounts this instance leads: those not
    /// following first, then by lag.
    fn worst(&self, accounts: &[AccountStatus]) {
        let mut led: Vec<&AccountStatus> = accounts
            .iter()
            .filter(|a| !matches!(a.state.as_str(), "standby" | "stopped"))
            .collect();
        let badness = |a: &AccountStatus| {
            let following = a.state == "streaming";
            (!following, a.lag_seconds.unwrap_or(f64::INFINITY))
        };
        led.sort_by(|x, y| {
            badness(y)
                .partial_cmp(&badness(x))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        for a in led.into_iter().take(self.series) {
            let label = a.account.to_string();
            if let Some(lag) = a.lag_seconds {
                metrics::gauge!("orbitpay_stream_lag_seconds", "account" => label.clone()).set(lag);
            }
            if let Some(ledger) = a.ledger {
                metrics::gauge!("orbitpay_stream_cursor_ledger", "account" => label)
                    .set(f64::from(ledger));
            }
        }
    }

    fn counters(&mut self, followers: Vec<Arc<FollowerStatus>>) {
        let mut total = Counts::default();
        let mut now = HashMap::with_capacity(followers.len());
        let mut add = |c: Counts| {
            total.records += c.records;
            total.reconnects += c.reconnects;
            total.stalls += c.stalls;
            total.errors += c.errors;
            total.gaps_detected += c.gaps_detected;
        };
        for f in followers {
            let key = Arc::as_ptr(&f) as usize;
            let counts = Counts::of(&f.snapshot());
            let before = self.seen.remove(&key).map(|(_, c)| c).unwrap_or_default();
            add(counts.since(before));
            now.insert(key, (f, counts));
        }
        // Followers gone since the last tick: what they counted in between.
        for (_, (f, before)) in self.seen.drain() {
            add(Counts::of(&f.snapshot()).since(before));
        }
        self.seen = now;
        metrics::counter!("orbitpay_stream_records_total").increment(total.records);
        metrics::counter!("orbitpay_stream_reconnects_total").increment(total.reconnects);
        metrics::counter!("orbitpay_stream_stalls_total").increment(total.stalls);
        metrics::counter!("orbitpay_stream_errors_total").increment(total.errors);
        metrics::counter!("orbitpay_stream_gaps_detected_total").increment(total.gaps_detected);
    }
}

/// `orbitpay_accounts{state}` and the flags (`orbitpay_accounts_flagged{flag}`).
fn states(accounts: &[AccountStatus]) {
    let mut by_state: BTreeMap<&str, usize> = ACCOUNT_STATES.iter().map(|s| (*s, 0)).collect();
    for a in accounts {
        *by_state.entry(a.state.as_str()).or_default() += 1;
    }
    for (state, n) in by_state {
        metrics::gauge!("orbitpay_accounts", "state" => state.to_owned()).set(n as f64);
    }
    let gap = accounts.iter().filter(|a| a.gap).count();
    let reset = accounts.iter().filter(|a| a.reset).count();
    metrics::gauge!("orbitpay_accounts_flagged", "flag" => "retention_gap").set(gap as f64);
    metrics::gauge!("orbitpay_accounts_flagged", "flag" => "network_reset").set(reset as f64);
}

/// `orbitpay_accounts_lag_seconds{quantile}` over the accounts whose lag is known: the median,
/// the 99th percentile and the worst (quantile 1).
fn lag(accounts: &[AccountStatus]) {
    let mut lags: Vec<f64> = accounts.iter().filter_map(|a| a.lag_seconds).collect();
    if lags.is_empty() {
        return;
    }
    lags.sort_by(f64::total_cmp);
    for (q, name) in [(0.5, "0.5"), (0.99, "0.99"), (1.0, "1")] {
        let i = ((lags.len() as f64 * q).ceil() as usize).clamp(1, lags.len()) - 1;
        metrics::gauge!("orbitpay_accounts_lag_seconds", "quantile" => name).set(lags[i]);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use orbitpay_core::AccountId;

    use super::*;
    use crate::status::Role;

    fn accounts(n: u32) -> Vec<AccountId> {
        (0..n)
            .map(|i| {
                let mut bytes = [9u8; 32];
                bytes[..4].copy_from_slice(&i.to_be_bytes());
                AccountId::from_bytes(bytes)
            })
            .collect()
    }

    /// A board of `n` accounts this instance leads, account `i` lagging `i` seconds, the last
    /// one halted.
    fn board(n: u32) -> Arc<StatusBoard> {
        let all = accounts(n);
        let board = StatusBoard::new(all.clone());
        for (i, a) in all.iter().enumerate() {
            board.set_role(*a, Role::Leading);
            board.set_lag(*a, Some(i as f64));
        }
        board.set_role(
            all[all.len() - 1],
            Role::Halted {
                reason: "bad record".into(),
            },
        );
        board
    }

    /// The series `/metrics` shows after one refresh of `board` (help and type lines aside).
    fn series(board: &StatusBoard, account_series: usize, idle: Duration) -> Vec<String> {
        let recorder = crate::metrics::builder(idle).build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            AccountMetrics::new(account_series).refresh(board);
        });
        handle
            .render()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_thousand_accounts_make_as_many_series_as_ten() {
        let idle = Duration::from_secs(60);
        let ten = series(&board(10), 5, idle);
        let thousand = series(&board(1_000), 5, idle);
        assert_eq!(ten.len(), thousand.len(), "{thousand:#?}");
        let per_account = thousand.iter().filter(|l| l.contains("account=")).count();
        // Lag only: no follower attached, so no cursor ledger.
        assert_eq!(per_account, 5, "{thousand:#?}");
        assert!(thousand.len() < 30, "{thousand:#?}");
        assert!(
            thousand
                .iter()
                .any(|l| l == "orbitpay_accounts{state=\"starting\"} 999"),
            "{thousand:#?}"
        );
        assert!(
            thousand
                .iter()
                .any(|l| l == "orbitpay_accounts{state=\"halted\"} 1"),
            "{thousand:#?}"
        );
        assert!(
            thousand
                .iter()
                .any(|l| l == "orbitpay_accounts{state=\"streaming\"} 0"),
            "{thousand:#?}"
        );
        assert!(
            thousand
                .iter()
                .any(|l| l == "orbitpay_accounts_lag_seconds{quantile=\"1\"} 999"),
            "{thousand:#?}"
        );
        assert!(
            thousand
                .iter()
                .any(|l| l == "orbitpay_accounts_lag_seconds{quantile=\"0.99\"} 989"),
            "{thousand:#?}"
        );
    }

    #[test]
    fn the_accounts_with_series_of_their_own_are_the_worst() {
        let all = accounts(100);
        let shown = series(&board(100), 3, Duration::from_secs(60));
        let labelled: Vec<&String> = shown.iter().filter(|l| l.contains("account=")).collect();
        // The halted one first, then the two lagging most.
        for a in [all[99], all[98], all[97]] {
            assert!(
                labelled.iter().any(|l| l.contains(&a.to_string())),
                "{a} missing: {labelled:#?}"
            );
        }
        assert_eq!(labelled.len(), 3);
    }

    #[test]
    fn an_account_gauge_no_longer_set_leaves_metrics_after_the_idle_timeout() {
        let all = accounts(4);
        let board = board(4);
        let recorder = crate::metrics::builder(Duration::from_millis(200)).build_recorder();
        let handle = recorder.handle();
        let mut m = AccountMetrics::new(1);
        let worst = all[3].to_string();
        metrics::with_local_recorder(&recorder, || m.refresh(&board));
        assert!(handle.render().contains(&worst));
        // The halted account resumes and catches up: account 2 is now the worst.
        board.set_role(all[3], Role::Leading);
        board.set_lag(all[3], Some(0.0));
        std::thread::sleep(Duration::from_millis(400));
        metrics::with_local_recorder(&recorder, || m.refresh(&board));
        handle.run_upkeep();
        let text = handle.render();
        assert!(!text.contains(&worst), "{text}");
        assert!(text.contains(&all[2].to_string()), "{text}");
    }
}
