//! The CLI against a running server: every subcommand, tables and `--json`, and errors.

mod admin_support;

use admin_support::*;
use clap::Parser;
use orbitpay_cli::{Cli, exit};

#[tokio::test]
async fn round_trip_through_every_subcommand() {
    let h = Harness::start().await;

    // create, with a generated key that is printed
    let (code, out, err) = cli(
        &h,
        &format!("sessions create --amount 12.5 --asset {USDC} --expires-in 15m --order-id X"),
    )
    .await;
    assert_eq!(code, exit::OK, "{err}");
    assert!(err.starts_with("Idempotency-Key: "), "{err}");
    assert!(
        out.contains("12.5000000") && out.contains("pending") && out.contains("web+stellar:pay?"),
        "{out}"
    );
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("id:"))
        .unwrap()
        .trim()
        .to_owned();

    // create --json with a given key, twice: same session
    let (code, out, _) = cli(
        &h,
        "sessions create --amount 1 --asset native --idempotency-key K --json",
    )
    .await;
    assert_eq!(code, exit::OK);
    let first: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (_, again, _) = cli(
        &h,
        "sessions create --amount 1 --asset native --idempotency-key K --json",
    )
    .await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&again).unwrap(),
        first
    );
    let second_id = first["id"].as_str().unwrap().to_owned();

    // show
    let (code, out, _) = cli(&h, &format!("sessions show {id}")).await;
    assert_eq!(code, exit::OK);
    assert!(out.contains(&id) && out.contains("X"), "{out}");

    // list: table, then --json, then a filter
    let (code, out, _) = cli(&h, "sessions list").await;
    assert_eq!(code, exit::OK);
    assert!(out.starts_with("ID"), "{out}");
    assert_eq!(out.lines().count(), 3, "a header and two sessions: {out}");
    let (_, out, _) = cli(&h, "sessions list --json --status pending").await;
    let page: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let (_, out, _) = cli(&h, "sessions list --status processing").await;
    assert_eq!(out.lines().count(), 1, "{out}");

    // report-tx (the fake matcher settles it), then cancel the other one
    let (code, out, err) = cli(&h, &format!("sessions report-tx {id} {}", tx_hash(4))).await;
    assert_eq!(code, exit::OK, "{err}");
    assert!(
        out.contains("outcome: settled") && out.contains("paid"),
        "{out}"
    );
    let (code, out, _) = cli(&h, &format!("sessions cancel {second_id}")).await;
    assert_eq!(code, exit::OK);
    assert!(out.contains("cancelled"), "{out}");

    // errors: the code on stderr, a non-zero exit; --json prints the error body
    let (code, _, err) = cli(&h, &format!("sessions cancel {second_id}")).await;
    assert_eq!(code, exit::API_ERROR);
    assert!(err.contains("INVALID_SESSION_STATE"), "{err}");
    let (code, out, err) = cli(
        &h,
        "sessions show 00000000-0000-0000-0000-000000000000 --json",
    )
    .await;
    assert_eq!(code, exit::API_ERROR);
    assert!(err.contains("SESSION_NOT_FOUND"), "{err}");
    assert!(out.contains(r#""code":"SESSION_NOT_FOUND""#), "{out}");
    let (code, _, err) = cli(&h, "sessions create --amount 1.00000001 --asset native").await;
    assert_eq!(code, exit::API_ERROR);
    assert!(err.contains("INVALID_AMOUNT"), "{err}");

    // feeds and status
    // The feed serves a commit once older writing transactions on the cluster (other tests')
    // have ended.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let (mut code, mut out, _) = cli(&h, "events").await;
    while !out.contains("session.cancelled") && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        (code, out, _) = cli(&h, "events").await;
    }
    assert_eq!(code, exit::OK);
    assert!(
        out.contains("session.created") && out.contains("session.cancelled"),
        "{out}"
    );
    let (code, out, _) = cli(&h, "payments unmatched").await;
    assert_eq!(code, exit::OK);
    assert!(out.starts_with("ID"), "{out}");
    let (code, out, _) = cli(&h, "payments unreadable --limit 5").await;
    assert_eq!(code, exit::OK);
    assert!(out.starts_with("ACCOUNT"), "{out}");
    let (code, out, _) = cli(&h, "payments unreadable --json").await;
    assert_eq!(code, exit::OK);
    assert!(out.contains(r#""data":[]"#), "{out}");
    let (code, out, _) = cli(&h, "status").await;
    assert_eq!(code, exit::OK);
    assert!(
        out.contains("version:") && out.contains(ACCOUNT) && out.contains("streaming"),
        "{out}"
    );
    let (_, out, _) = cli(&h, "status --json").await;
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["sessions"]["cancelled"], 1);
}

#[tokio::test]
async fn an_unreachable_socket_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nobody.sock");
    let parsed = Cli::try_parse_from(["orbitpay", "status"]).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = orbitpay_cli::run(&parsed.command, &missing, false, &mut out, &mut err).await;
    assert_eq!(code, exit::UNREACHABLE);
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.contains("CONNECTION_FAILED") && err.contains("nobody.sock"),
        "{err}"
    );
}
