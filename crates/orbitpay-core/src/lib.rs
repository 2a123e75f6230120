//! orbitpay's payment domain, free of IO: money, assets, addresses, memos, the session state
//! machine, and the rules that turn a ledger record into a credit for a session.
//!
//! Everything here is deterministic and cheap to test exhaustively; the store and the daemon
//! apply these answers inside their transactions.

pub mod account;
pub mod amount;
pub mod asset;
pub mod backoff;
pub mod ledger;
pub mod matching;
pub mod memo;
pub mod refund;
pub mod status;
pub mod text;
pub mod tx;

pub use account::{AccountId, Address, AddressError, ContractId, MuxedAccount};
pub use amount::{Amount, AmountError, ContractAmount, PositiveAmount};
pub use asset::{Asset, AssetCode, AssetError};
pub use backoff::{Backoff, Jitter};
pub use ledger::{BalanceChange, LedgerRecord, Operation, TransferKind};
pub use matching::UnmatchedReason;
pub use memo::{Memo, MemoError, MemoText, Reference, ReferenceError};
pub use refund::{RefundOperation, RefundTx, RefundTxError, envelope_hash, sep7_tx_uri};
pub use status::{IllegalTransition, SessionStatus};
pub use tx::{TxHash, TxHashError, toid};
