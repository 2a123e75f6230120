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
        out.contains("version:") && out.contains("1/1") && out.contains("streaming"),
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

/// Runs both command lines and asserts they print the same; returns the output.
async fn same_output(h: &Harness, canonical: &str, alias: &str) -> String {
    let (code, out, err) = cli(h, canonical).await;
    assert_eq!(code, exit::OK, "{canonical}: {err}");
    let (code, again, err) = cli(h, alias).await;
    assert_eq!(code, exit::OK, "{alias}: {err}");
    assert_eq!(again, out, "`{alias}` prints what `{canonical}` does");
    out
}

#[tokio::test]
async fn every_resource_lists_and_shows_and_the_old_spellings_still_work() {
    use diesel_async::RunQueryDsl;
    let h = Harness::start().await;
    let mut conn = h.db.conn().await;
    orbitpay_store::deliveries::set_default_endpoint(&mut conn, Some(WEBHOOK_URL))
        .await
        .unwrap();
    let (_, out, _) = cli(&h, "sessions create --amount 2 --asset native --json").await;
    let session: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = session["id"].as_str().unwrap().to_owned();
    diesel::insert_into(orbitpay_store::schema::unmatched_payments::table)
        .values(orbitpay_store::models::NewUnmatchedPayment {
            op_id: 1 << 40,
            tx_hash: tx_hash(9),
            account: ACCOUNT.into(),
            amount: Some(orbitpay_store::numeric::I128Numeric(10_000_000)),
            asset: Some("native".into()),
            from_address: Some(SECOND_ACCOUNT.into()),
            memo_type: Some("text".into()),
            memo_value: Some("hello".into()),
            memo_bytes: Some(b"hello".to_vec()),
            muxed_id: None,
            reason: orbitpay_core::UnmatchedReason::UnknownReference,
            session_id: None,
            ledger: Some(42),
            detail: None,
            raw_operation: Some(serde_json::json!({"type": "payment", "id": "1099511627776"})),
        })
        .execute(&mut conn)
        .await
        .unwrap();
    let token = 120_092_264_608_567_297;
    orbitpay_store::unreadable::record(
        &mut conn,
        &orbitpay_store::models::NewUnreadableRecord {
            account: ACCOUNT.to_owned(),
            paging_token: token,
            raw: b"{\"id\":".to_vec(),
            raw_truncated: false,
            parse_error: "not JSON: EOF".into(),
            attempts: 5,
        },
    )
    .await
    .unwrap();

    // sessions: list, and show with the timeline; show's JSON keeps every field it had
    let (code, out, _) = cli(&h, "sessions list").await;
    assert_eq!(code, exit::OK);
    assert!(out.contains(&id), "{out}");
    let (code, out, _) = cli(&h, &format!("sessions show {id}")).await;
    assert_eq!(code, exit::OK);
    assert!(
        out.contains(&id) && out.contains("session.created"),
        "{out}"
    );
    let (_, out, _) = cli(&h, &format!("sessions show {id} --json")).await;
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    for (field, value) in session.as_object().unwrap() {
        assert_eq!(&shown[field], value, "sessions show --json keeps {field}");
    }
    let created = &shown["timeline"][0];
    assert_eq!(created["type"], "session.created");
    let event_id = created["event_id"].as_str().unwrap().to_owned();
    let delivery = created["deliveries"][0]["id"].as_i64().unwrap();
    let (_, out, _) = cli(&h, &format!("sessions show {id}")).await;
    assert!(
        out.contains(&format!("#{delivery} pending (no attempt yet)")),
        "{out}"
    );

    // events: show by id; a bare `events` (with or without flags) is `events list`
    let (code, out, _) = cli(&h, &format!("events show {event_id}")).await;
    assert_eq!(code, exit::OK);
    assert!(
        out.contains("session.created") && out.contains(WEBHOOK_URL),
        "{out}"
    );
    let (code, _, err) = cli(&h, "events show 0194f0f0-0000-7000-8000-000000000000").await;
    assert_eq!(code, exit::API_ERROR);
    assert!(err.contains("NOT_FOUND"), "{err}");
    // The feed serves a commit once older writing transactions on the cluster have ended.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !cli(&h, "events list").await.1.contains(&id) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let out = same_output(&h, "events list", "events").await;
    assert!(
        out.contains("session.created") && out.contains(&event_id),
        "the listed event id is the one `events show` takes: {out}"
    );
    same_output(
        &h,
        "events list --after 0 --limit 1",
        "events --after 0 --limit 1",
    )
    .await;

    // webhooks: list and show
    let (code, out, _) = cli(&h, "webhooks list").await;
    assert_eq!(code, exit::OK);
    assert!(out.contains(WEBHOOK_URL), "{out}");
    let (code, out, _) = cli(&h, &format!("webhooks show {delivery}")).await;
    assert_eq!(code, exit::OK);
    assert!(out.contains(&event_id), "{out}");

    // payments unmatched: list (bare or not), show
    let out = same_output(&h, "payments unmatched list", "payments unmatched").await;
    assert!(out.contains("unknown_reference"), "{out}");
    same_output(
        &h,
        "payments unmatched list --after 0 --limit 5",
        "payments unmatched --after 0 --limit 5",
    )
    .await;
    let (_, out, _) = cli(&h, "payments unmatched --json").await;
    let page: serde_json::Value = serde_json::from_str(&out).unwrap();
    let unmatched = page["data"][0]["id"].as_i64().unwrap();
    let (code, out, _) = cli(&h, &format!("payments unmatched show {unmatched}")).await;
    assert_eq!(code, exit::OK);
    assert!(
        out.contains("hello") && out.contains("1099511627776") && out.contains(SECOND_ACCOUNT),
        "{out}"
    );
    let (code, _, err) = cli(&h, "payments unmatched show 999999").await;
    assert_eq!(code, exit::API_ERROR);
    assert!(err.contains("NOT_FOUND"), "{err}");

    // payments unreadable: list (bare or not), show
    let out = same_output(&h, "payments unreadable list", "payments unreadable").await;
    assert!(out.contains("not JSON: EOF"), "{out}");
    same_output(
        &h,
        &format!("payments unreadable list --account {ACCOUNT} --limit 5"),
        &format!("payments unreadable --account {ACCOUNT} --limit 5"),
    )
    .await;
    let (code, out, _) = cli(&h, &format!("payments unreadable show {ACCOUNT} {token}")).await;
    assert_eq!(code, exit::OK);
    assert!(
        out.contains("not JSON: EOF") && out.contains("attempts:"),
        "{out}"
    );
    let (_, out, _) = cli(
        &h,
        &format!("payments unreadable show {ACCOUNT} {token} --json"),
    )
    .await;
    let record: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(record["paging_token"], token);
    assert_eq!(record["resolved_at"], serde_json::Value::Null);
    let (code, _, err) = cli(&h, &format!("payments unreadable show {ACCOUNT} 1")).await;
    assert_eq!(code, exit::API_ERROR);
    assert!(err.contains("NOT_FOUND"), "{err}");
}
