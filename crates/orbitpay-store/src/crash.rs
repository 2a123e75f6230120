//! Named crash points, for the fault suites: a point the `FAILPOINTS` environment variable
//! sets to `return` kills the process there, as `kill -9` would (`std::process::abort`: no
//! destructors, no graceful shutdown), so a test can stop the daemon between two commits that
//! a random kill would rarely separate. fail-rs syntax: `claim-committed=return` dies on the
//! first hit, `claim-committed=2*off->return` on the third.
//!
//! Without the `failpoints` feature (release builds) `fail_point!` expands to nothing.
//!
//! The points:
//! - `claim-committed`: a claim (`pending -> processing`) committed, its settle not begun
//!   (the stream's batch and a client report).
//! - `settle-before-response`: a client-reported transaction settled, the HTTP response not
//!   yet written.
//! - `webhook-sent`: the receiver answered 2xx, the delivery not yet recorded.
//! - `recovery-mid`: a recovery run resolved a stuck session, and another is still to go.

/// Dies here when `name` is configured `return`; any other fail-rs action (`sleep`, `panic`,
/// `pause`, ...) behaves as fail-rs says.
#[cfg_attr(not(feature = "failpoints"), allow(unused_variables))]
#[inline(always)]
pub fn point(name: &str) {
    fail::fail_point!(name, |_| std::process::abort());
}

/// Reads `FAILPOINTS` once, for the life of the process (a no-op without the feature). Only
/// the daemon binary calls it: fail-rs allows one scenario per process.
pub fn arm() {
    #[cfg(feature = "failpoints")]
    std::mem::forget(fail::FailScenario::setup());
}
