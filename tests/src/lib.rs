//! The end-to-end suite lives in `tests/`: the daemon (in-process through its own `serve::run`,
//! or the real binary as child processes) against the Horizon simulator and PostgreSQL, driven
//! only through the admin socket and the simulated ledger, as a merchant and a customer would.
//! This library holds what the fault tests share.

pub mod admin;
pub mod checker;
pub mod daemon;
pub mod sql;
pub mod workload;
pub mod world;
