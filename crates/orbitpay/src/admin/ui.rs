//! The operator page (`orbitpay-ui`) on the admin socket under `/ui`: it reads the database
//! through the store and this instance's live status through [`IngestBoard`], the followers'
//! and jobs' status as the page's [`orbitpay_ui::Board`].

use std::sync::Arc;

use super::state::{AdminState, IngestStatus};

/// The page's routes, with the admin state's pool and status board.
pub fn router(state: &AdminState) -> axum::Router {
    orbitpay_ui::router(Arc::new(orbitpay_ui::UiState {
        pool: state.pool.clone(),
        board: Arc::new(IngestBoard(state.ingest.clone())),
        network_passphrase: state.network_passphrase.clone(),
    }))
}

struct IngestBoard(Arc<dyn IngestStatus>);

fn row(a: super::AccountStatus) -> orbitpay_ui::AccountRow {
    orbitpay_ui::AccountRow {
        account: a.account.to_string(),
        state: a.state,
        lag_seconds: a.lag_seconds,
        reason: a.reason,
        catch_up_percent: a.catch_up.as_ref().and_then(|c| c.percent),
        eta_seconds: a.catch_up.as_ref().and_then(|c| c.eta_seconds),
    }
}

impl orbitpay_ui::Board for IngestBoard {
    fn accounts(&self, cap: usize) -> orbitpay_ui::AccountsView {
        let accounts = self.0.accounts();
        let everyone = (accounts.len() <= cap).then(|| accounts.clone());
        let summary = super::AccountsSummary::of(accounts, cap);
        let (rows, omitted) = match everyone {
            Some(all) => (all, 0),
            None => (summary.not_following, summary.not_following_omitted),
        };
        orbitpay_ui::AccountsView {
            total: summary.total,
            by_state: summary
                .by_state
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .collect(),
            shown: rows.into_iter().map(row).collect(),
            omitted,
        }
    }

    fn jobs(&self) -> Vec<orbitpay_ui::JobRow> {
        self.0
            .jobs()
            .into_iter()
            .map(|j| orbitpay_ui::JobRow {
                job: j.job,
                started_at: j.started_at,
                duration_seconds: j.duration_seconds,
                outcome: j.outcome,
                error: j.error,
                notes: j.notes,
            })
            .collect()
    }
}
