//! `orbitpay-demo`, the README's first command, runs to completion and cleans up after itself.

use std::process::Stdio;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_to_completion_and_cleans_up() {
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_orbitpay-demo"));
    // The demo reads DATABASE_URL and ORBITPAY_DEMO_PG only; nothing else of ours leaks in.
    for (k, _) in std::env::vars() {
        if k.starts_with("ORBITPAY_") || k.starts_with("NOTIFY_SOCKET") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(90), cmd.output())
        .await
        .expect("the demo hung for 90 s")
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{out}\nstderr:\n{err}",
        output.status
    );
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "the demo took {:?}",
        started.elapsed()
    );
    // The story it tells, and where to watch it.
    assert!(
        out.contains("operator page: http://127.0.0.1:") && out.contains("/ui/?token="),
        "{out}"
    );
    assert!(
        out.contains("status: pending -> processing -> paid"),
        "{out}"
    );
    assert!(
        out.contains("status: pending -> processing -> pending (4 of 10 XLM received)"),
        "{out}"
    );
    assert!(
        out.contains("status: pending -> processing -> pending -> processing -> paid"),
        "{out}"
    );
    assert!(
        out.contains("recorded as unmatched (already_paid)"),
        "{out}"
    );
    assert!(out.contains("still received 12.5 XLM"), "{out}");
    assert!(
        out.contains("2 XLM to the payer, awaiting_signature"),
        "{out}"
    );
    assert!(out.contains("sign: web+stellar:tx?xdr="), "{out}");
    assert!(out.contains("refund completed: tx "), "{out}");
    assert!(
        out.contains("webhook refund.completed arrived and verified"),
        "{out}"
    );
    assert!(
        out.contains("done: everything the demo created has been removed."),
        "{out}"
    );

    // Its scratch database is gone.
    if let Some(name) = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("database: "))
        .and_then(|rest| rest.split_whitespace().next())
        .filter(|n| n.starts_with("orbitpay_demo_"))
    {
        let server = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        use diesel::sql_types::{Bool, Text};
        use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
        #[derive(diesel::QueryableByName)]
        struct Exists {
            #[diesel(sql_type = Bool)]
            exists: bool,
        }
        let mut conn = AsyncPgConnection::establish(&server).await.unwrap();
        let row: Exists = diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists",
        )
        .bind::<Text, _>(name)
        .get_result(&mut conn)
        .await
        .unwrap();
        assert!(!row.exists, "demo database {name} left behind");
    }
}
