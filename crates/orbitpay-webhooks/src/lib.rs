//! Delivers outbox events to merchants as signed webhooks (Standard Webhooks v1), at least once.
//!
//! The store owns the queue (`orbitpay_store::deliveries`); this crate signs, guards against
//! SSRF, sends, and decides what a response means for the next attempt.

pub mod dispatcher;
pub mod guard;
pub mod policy;
pub mod signing;

pub use dispatcher::{DispatchError, Dispatcher, DispatcherConfig};
pub use policy::RetryPolicy;
pub use signing::{Secret, Signer};
