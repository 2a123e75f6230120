//! The API document is the contract: schemathesis, driven by `docs/openapi.json` alone, sends
//! generated requests to a running daemon (on the simulator and a fresh database) and checks
//! every answer against the document (every check on: status codes, content types, headers and
//! bodies as documented, valid data accepted, invalid data rejected, no 5xx, resources
//! available after creation, and the stateful links from a created session on).
//!
//! Ignored by default: it needs schemathesis (`.ci/run` installs a pinned one). Run it with
//! `ORBITPAY_SCHEMATHESIS=/path/to/schemathesis cargo test -p orbitpay-e2e --test contract_fuzz
//! -- --ignored --nocapture`; `ORBITPAY_FUZZ_EXAMPLES` (default 25 per operation) and
//! `ORBITPAY_FUZZ_SEED` (default 1) bound and reproduce a run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use orbitpay::config::Secret;
use tokio::net::{TcpListener, UnixStream};

mod common;

/// The admin API is on a Unix socket; schemathesis speaks TCP. This serves loopback TCP by
/// copying each connection to the socket, so the daemon sees exactly the bytes it would get
/// from curl on the socket.
async fn bridge(socket: PathBuf) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let socket = socket.clone();
            tokio::spawn(async move {
                if let Ok(mut unix) = UnixStream::connect(&socket).await {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                }
            });
        }
    });
    addr
}

/// schemathesis's configuration: every check on, with what the document cannot say given as
/// values to draw from. An asset issuer and an account carry a checksum, and an account must
/// be one this daemon watches: JSON Schema cannot express either, so the valid requests draw
/// them from lists (the invalid ones are still generated and must be rejected). A well-formed
/// `after` may name a row that is gone, which the document answers with 410 UNKNOWN_CURSOR:
/// valid data, so 410 is an accepted answer to it. NUL (U+0000) is refused in every text with a
/// documented 400 INVALID_CHARACTER (every_error_code proves it), which a schema cannot say of
/// every string nested in `metadata`, so generated strings hold none. A key sent again with
/// another body is 422 IDEMPOTENCY_KEY_REUSED, as documented, and schemathesis repeats keys.
/// The coverage phase draws no dictionary values, and the unreadable list's `account` is a G
/// address with a checksum: there a 400 INVALID_REQUEST is the documented answer. The
/// accounts endpoints add and remove a spare account, never the shop (removing it would turn
/// every later session create into a documented, but not positive, 400 UNKNOWN_ACCOUNT).
fn config(shop: &str) -> String {
    format!(
        r#"
[generation]
allow-x00 = false

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "404", "409", "410", "422"]

[[operations]]
include-path = "/v1/payments/unreadable"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]

[dictionaries.assets]
values = ["native", "USDC:{shop}"]

[dictionaries.accounts]
values = ["{shop}"]

[dictionaries.spare_accounts]
values = ["{SPARE_ACCOUNT}"]

[dictionaries.urls]
values = ["http://127.0.0.1:9/hooks", "https://shop.example/hooks"]

[parameters]
"body.asset" = {{ dictionary = "assets" }}
"body.account" = {{ dictionary = "accounts" }}
"query.account" = {{ dictionary = "accounts" }}
"body.address" = {{ dictionary = "spare_accounts" }}
"path.address" = {{ dictionary = "spare_accounts" }}
"body.webhook_url" = {{ dictionary = "urls" }}
"body.url" = {{ dictionary = "urls" }}
"#
    )
}

/// A valid G account that is not the shop's, for `/v1/accounts` to add and remove.
const SPARE_ACCOUNT: &str = "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7";

fn document() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs schemathesis; .ci/run installs it and runs this"]
async fn the_daemon_answers_as_its_openapi_document_says() {
    let program =
        std::env::var("ORBITPAY_SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".to_owned());
    let examples = std::env::var("ORBITPAY_FUZZ_EXAMPLES").unwrap_or_else(|_| "25".to_owned());
    let seed = std::env::var("ORBITPAY_FUZZ_SEED").unwrap_or_else(|_| "1".to_owned());
    let running = common::start(7, |c| {
        c.admin.confirm_wait = Duration::from_millis(200);
        // A default endpoint, so that `POST /v1/webhooks/endpoint/enable` without a url has
        // one to enable; nothing listens there (deliveries fail and wait, as they would).
        c.webhooks.url = Some("http://127.0.0.1:9/hooks".to_owned());
        c.webhooks.secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=");
        c.webhooks.allow_private = true;
    })
    .await;
    let addr = bridge(running.admin_socket.clone()).await;
    let reports = tempfile::tempdir().unwrap();
    let config_file = reports.path().join("schemathesis.toml");
    std::fs::write(&config_file, config(&running.shop.to_string())).unwrap();
    let status = tokio::process::Command::new(&program)
        .arg("--config-file")
        .arg(&config_file)
        .arg("run")
        .arg(document())
        .args(["--url", &format!("http://{addr}")])
        .args(["--checks", "all"])
        .args(["--max-examples", &examples])
        .args(["--seed", &seed])
        .args(["--workers", "2"])
        .args(["--request-timeout", "10"])
        .args(["--generation-database", "none"])
        .arg("--no-color")
        .arg("--report-dir")
        .arg(reports.path())
        // It keeps a cache in its working directory: the temporary one, not the repository.
        .current_dir(reports.path())
        .kill_on_drop(true)
        .status()
        .await
        .unwrap_or_else(|e| panic!("cannot run {program}: {e} (set ORBITPAY_SCHEMATHESIS)"));
    assert!(
        status.success(),
        "schemathesis found places where the daemon and docs/openapi.json disagree (above); \
         replay with ORBITPAY_FUZZ_SEED={seed} ORBITPAY_FUZZ_EXAMPLES={examples}"
    );
    running.stop().await;
}
