//! `orbitpay demo`, the README's first command, runs to completion and cleans up after itself.

mod serve_support;

use std::time::{Duration, Instant};

use serve_support::{orbitpay_command, wait_exit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_to_completion_and_cleans_up() {
    let started = Instant::now();
    let mut cmd = orbitpay_command(&["demo"]);
    if let Ok(url) = std::env::var("DATABASE_URL") {
        cmd.env("DATABASE_URL", url);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let status = wait_exit(&mut child, Duration::from_secs(90));
    if status.is_none() {
        let _ = child.kill();
    }
    let out = out.join().unwrap();
    let err = err.join().unwrap();
    let status = status.unwrap_or_else(|| panic!("the demo hung\nstdout:\n{out}\nstderr:\n{err}"));
    assert!(
        status.success(),
        "exit {status:?}\nstdout:\n{out}\nstderr:\n{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "the demo took {:?}",
        started.elapsed()
    );

    // The story it tells.
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
