//! What a ledger source reports: one record per operation that touched a watched account,
//! already parsed into domain types. Horizon's JSON (or, later, Stellar RPC's) is translated
//! into this shape at the edge, so the matching rules never see a wire format.

use std::sync::Arc;

use crate::{AccountId, Address, Amount, Asset, ContractAmount, Memo, TxHash};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRecord {
    /// The operation's TOID, which is also its paging token.
    pub op_id: i64,
    /// The hash the ledger knows the transaction by: for a fee-bump, the outer (fee-bump) hash.
    pub tx_hash: TxHash,
    /// A fee-bump's inner transaction hash: what the payer's wallet signed, and may report.
    pub inner_tx_hash: Option<TxHash>,
    pub ledger: u32,
    /// When the ledger closed (unix seconds), if the source said: the basis of ingestion lag.
    pub closed_at: Option<i64>,
    pub successful: bool,
    /// The transaction's memo (a memo belongs to the transaction, not the operation).
    pub memo: Memo,
    pub operation: Operation,
    /// The record as the source sent it (Horizon's operation JSON), when it came from one: kept
    /// on an unmatched row, so money we could not credit can still be refunded from it.
    pub raw: Option<Arc<serde_json::Value>>,
}

impl LedgerRecord {
    /// Whether `hash` names this record's transaction: its own hash or, for a fee-bump, the
    /// inner one. A claim taken under either is this transaction's claim.
    pub fn is_of_transaction(&self, hash: TxHash) -> bool {
        self.tx_hash == hash || self.inner_tx_hash == Some(hash)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `payment`, and both path payments: `amount`/`asset` are what the receiver got
    /// (never a path payment's `source_amount`).
    Transfer {
        kind: TransferKind,
        from: Address,
        to: Address,
        asset: Asset,
        amount: Amount,
    },
    CreateAccount {
        funder: AccountId,
        account: AccountId,
        starting_balance: Amount,
    },
    /// `account_merge` records carry no amount; the source fills it from the operation's
    /// `account_credited` effect, and leaves `None` when it could not.
    AccountMerge {
        account: Address,
        into: Address,
        amount: Option<Amount>,
    },
    /// An `invoke_host_function` that moved Stellar Asset Contract balances.
    ContractTransfers { changes: Vec<BalanceChange> },
    /// `create_claimable_balance`: money leaves `source` into a balance that one of
    /// `claimants` may claim later. Nobody is credited by it (a claim is another operation);
    /// it is read for the refunds it sends back. Horizon's payments lists do not carry it.
    CreateClaimableBalance {
        source: Address,
        asset: Asset,
        amount: Amount,
        claimants: Vec<AccountId>,
    },
    /// A record the source could not interpret: recorded and skipped, never fatal.
    Unsupported { op_type: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferKind {
    Payment,
    PathPaymentStrictReceive,
    PathPaymentStrictSend,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Payment => "payment",
            TransferKind::PathPaymentStrictReceive => "path_payment_strict_receive",
            TransferKind::PathPaymentStrictSend => "path_payment_strict_send",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceChange {
    /// `transfer`, `mint`, `burn` or `clawback`.
    pub change_type: String,
    pub from: Option<Address>,
    pub to: Option<Address>,
    pub asset: Asset,
    pub amount: ContractAmount,
    pub destination_muxed_id: Option<u64>,
}

impl Operation {
    pub fn type_name(&self) -> &str {
        match self {
            Operation::Transfer { kind, .. } => kind.as_str(),
            Operation::CreateAccount { .. } => "create_account",
            Operation::AccountMerge { .. } => "account_merge",
            Operation::ContractTransfers { .. } => "invoke_host_function",
            Operation::CreateClaimableBalance { .. } => "create_claimable_balance",
            Operation::Unsupported { op_type, .. } => op_type,
        }
    }
}
