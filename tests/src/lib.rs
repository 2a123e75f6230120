//! The end-to-end suite lives in `tests/`: the daemon's own `serve` code path, in-process,
//! against the Horizon simulator and a fresh PostgreSQL database per test, driven only through
//! the admin socket and the simulated ledger, as a merchant and a customer would.
