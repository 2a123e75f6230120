//! What the daemon refuses at start, before it touches any data: a database that is not UTF8.

mod serve_support;

use std::time::Duration;

use orbitpay_testkit::TestDb;
use serve_support::*;

#[test]
fn serve_and_migrate_refuse_a_latin1_database_with_the_way_to_fix_it() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDb::empty_with_encoding("LATIN1"));
    let files = DaemonFiles::new();
    let (_, password) = split_password(db.url());
    let config = files.write_config(
        db.url(),
        password.as_deref().unwrap_or("unused"),
        "http://127.0.0.1:9",
        &[],
        "",
    );
    for command in ["migrate", "serve"] {
        let mut child = orbitpay_command(&[command, "--config", config.to_str().unwrap()])
            .spawn()
            .unwrap();
        let status = wait_exit(&mut child, Duration::from_secs(30));
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            status.is_some_and(|s| !s.success()),
            "{command}: {status:?}\n{stderr}"
        );
        assert!(
            stderr.contains("has encoding LATIN1, not UTF8")
                && stderr.contains("ENCODING 'UTF8'")
                && stderr.contains("TEMPLATE template0"),
            "{command}: {stderr}"
        );
    }
    drop(db);
}
