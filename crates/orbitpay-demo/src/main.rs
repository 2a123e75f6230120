//! `orbitpay-demo`: the README's first command. Everything it needs beyond the daemon (the
//! simulator, the throwaway cluster) lives here, not in the production binary.

mod demo;

use std::process::ExitCode;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("orbitpay-demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(demo::run());
    // Don't wait for stray blocking tasks (a hung DNS lookup, a stuck connect) at exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orbitpay-demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}
