//! The one front door to settlement. Every path that credits money (the stream's batches,
//! reconciliation, a client's report, the recovery job) comes through here: its records are
//! turned into intents and items once ([`Prepared`]), settled by the store, and every decision
//! is logged and counted once ([`Prepared::log`]). A path that settled without counting would
//! hide money from an operator adding up `orbitpay_credited_stroops_total`, and the stream,
//! finding those operations later, counts them only as already handled.

use orbitpay_core::{AccountId, LedgerRecord};
use orbitpay_store::settlement::{self, Applied, Intent, Item, SettleOutcome};

use crate::{MatchError, Matcher, decision, prepare, with_retry};
use orbitpay_store::retry::Retry;

/// Records with what core's rules make of each, as the store's transactions take them.
pub(crate) struct Prepared<'r> {
    records: Vec<&'r LedgerRecord>,
    intents: Vec<Intent>,
}

impl<'r> Prepared<'r> {
    pub(crate) fn new(
        account: &AccountId,
        records: impl IntoIterator<Item = &'r LedgerRecord>,
    ) -> Prepared<'r> {
        let records: Vec<&LedgerRecord> = records.into_iter().collect();
        let intents = records
            .iter()
            .map(|r| prepare::intent(r, account))
            .collect();
        Prepared { records, intents }
    }

    /// The items a store transaction settles, in record order.
    pub(crate) fn items(&self) -> Vec<Item<'_>> {
        self.records
            .iter()
            .zip(&self.intents)
            .map(|(record, intent)| Item { record, intent })
            .collect()
    }

    /// Logs and counts what settling did, one entry per item: the one place it is done.
    pub(crate) fn log(&self, account: &AccountId, applied: &[Applied]) {
        debug_assert_eq!(applied.len(), self.records.len());
        for (item, applied) in self.items().iter().zip(applied) {
            decision::log_decision(account, item, applied);
        }
    }
}

impl Matcher {
    /// Settles `prepared` in one store transaction (storing `up_to` as the cursor when given:
    /// the stream's batches only) and logs every decision.
    pub(crate) async fn settle(
        &self,
        account: &AccountId,
        prepared: &Prepared<'_>,
        up_to: Option<i64>,
        retry: Retry<'_>,
    ) -> Result<SettleOutcome, MatchError> {
        let items = prepared.items();
        let settled = with_retry!(self, retry, |conn| settlement::settle(
            conn, account, &items, up_to
        ))?;
        prepared.log(account, &settled.applied);
        Ok(settled)
    }

    /// Settles a network batch's accounts in one store transaction with the network cursor,
    /// and logs every decision of every account: the same settle, over several accounts.
    pub(crate) async fn settle_network(
        &self,
        accounts: &[(AccountId, Prepared<'_>)],
        items: &[settlement::AccountItems<'_>],
        cursor: settlement::NetworkCursor<'_>,
        retry: Retry<'_>,
    ) -> Result<Vec<SettleOutcome>, MatchError> {
        let settled = with_retry!(self, retry, |conn| settlement::settle_network(
            conn, items, cursor
        ))?;
        for ((account, prepared), outcome) in accounts.iter().zip(&settled) {
            prepared.log(account, &outcome.applied);
        }
        Ok(settled)
    }
}
