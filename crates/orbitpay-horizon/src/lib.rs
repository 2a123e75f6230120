//! orbitpay's ledger source: Horizon's payment records for watched accounts, as
//! [`orbitpay_core::LedgerRecord`]s, delivered in order and exactly once to a sink.
//!
//! - [`wire`]: Horizon's JSON, typed. [`convert`]: JSON → `LedgerRecord`, never failing the
//!   stream (uninterpretable records become `Operation::Unsupported`).
//! - [`LedgerSource`]: the interface (catch-up page, stream, transaction lookup, root info);
//!   [`HorizonSource`] implements it. A Stellar RPC source can be added beside it.
//! - [`Follower`]: one per account ([`Follower::new`]), or one for the network
//!   ([`Follower::network`], routing each record to the watched accounts it pays through a
//!   [`NetworkSink`]); catch-up, streaming, reconnects, stalls, retention and reset checks,
//!   with the resume point moved only by the sink's confirmation.
//! - [`FollowerStatus`]: live counters and state for metrics and the status endpoint.

pub mod config;
pub mod convert;
pub mod follower;
pub mod horizon;
mod pacing;
pub mod source;
mod sse;
pub mod status;
pub mod wire;

pub use config::{FollowConfig, HorizonConfig};
pub use convert::RecordError;
pub use follower::{
    AccountTarget, Batch, Follower, FollowerExit, NetworkSink, NetworkTarget, Phase, RecordSink,
    RouteCounters, RoutedBatch, SinkError, Target, WatchedSet, recipients,
};
pub use horizon::{HorizonError, HorizonSource};
pub use source::{
    AccountInfo, AccountLookup, Balance, EventStream, FetchedRecord, LedgerSource, PaymentsPage,
    RootInfo, Scope, SourceError, StreamEvent, TxLookup, now_token,
};
pub use status::{FollowerState, FollowerStatus, HaltReason, StatusSnapshot};
