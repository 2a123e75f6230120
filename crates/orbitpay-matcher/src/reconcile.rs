//! Records read again outside the stream (the reconciliation job's REST pages, unreadable
//! records that read now): settled through the same store transaction as the stream's, without
//! the cursor, which the stream owns. A record already handled is a no-op; one the stream
//! missed is handled now, exactly as the stream would have.

use orbitpay_core::{AccountId, LedgerRecord};
use orbitpay_store::settlement::Applied;

use crate::settle::Prepared;
use crate::{MatchError, Matcher};

impl Matcher {
    /// Settles `records` of `account` idempotently (no cursor move) and returns what each did.
    /// Retries transient database errors a bounded number of times, like a client's call: a
    /// job run ends with an error rather than holding its slot forever.
    pub async fn settle_again(
        &self,
        account: &AccountId,
        records: &[LedgerRecord],
    ) -> Result<Vec<Applied>, MatchError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let prepared = Prepared::new(account, records);
        let settled = self
            .settle(account, &prepared, None, self.for_client())
            .await?;
        Ok(settled.applied)
    }
}
