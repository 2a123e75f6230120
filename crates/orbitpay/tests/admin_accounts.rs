//! `/v1/accounts` over the real socket and a real database: adds are idempotent on their body,
//! a bad, muxed or conflicting add changes nothing, removal waits for open sessions unless
//! pending ones may expire, and sessions are created only on a watched account.

mod admin_support;

use admin_support::*;
use orbitpay_core::{AccountId, MuxedAccount};
use serde_json::Value;
use std::time::Duration;

const NEW_ACCOUNT: &str = "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7";

async fn accounts_table(h: &Harness) -> i64 {
    h.db.count("SELECT count(*) FROM watched_accounts").await
}

#[tokio::test]
async fn an_add_is_created_once_and_a_repeat_of_the_same_body_answers_it_again() {
    let h = Harness::start().await;
    let body = format!(r#"{{"address":"{NEW_ACCOUNT}","label":"shop 3"}}"#);
    let created = h.post("/v1/accounts", None, &body).await;
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let view = body_json(&created);
    assert_eq!(view["address"], NEW_ACCOUNT);
    assert_eq!(view["start_cursor"], "now");
    // "now" was resolved at the add, and is the account's cursor from then on.
    assert_eq!(view["start_token"], LEDGER_NOW);
    assert_eq!(view["cursor"], LEDGER_NOW);
    assert_eq!(view["added_by"], "api");

    let again = h.post("/v1/accounts", None, &body).await;
    assert_eq!(again.status, 200);
    assert_eq!(body_json(&again)["created_at"], view["created_at"]);
    assert_eq!(accounts_table(&h).await, 3);
}

#[tokio::test]
async fn an_add_with_another_start_or_label_is_a_conflict_that_changes_nothing() {
    let h = Harness::start().await;
    let first = h
        .post(
            "/v1/accounts",
            None,
            &format!(r#"{{"address":"{NEW_ACCOUNT}","start_cursor":"12"}}"#),
        )
        .await;
    assert_eq!(first.status, 201);
    for other in [
        format!(r#"{{"address":"{NEW_ACCOUNT}","start_cursor":"13"}}"#),
        format!(r#"{{"address":"{NEW_ACCOUNT}"}}"#),
        format!(r#"{{"address":"{NEW_ACCOUNT}","start_cursor":"12","label":"x"}}"#),
    ] {
        assert_error(
            &h.post("/v1/accounts", None, &other).await,
            409,
            "ACCOUNT_EXISTS",
        );
    }
    let listed = body_json(&h.get("/v1/accounts").await);
    let row = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["address"] == NEW_ACCOUNT)
        .cloned()
        .unwrap();
    assert_eq!(row["start_cursor"], "12");
    assert_eq!(row["label"], "");
    assert_eq!(row["cursor"], 12);
}

#[tokio::test]
async fn bad_and_muxed_addresses_and_bad_starts_are_refused_with_a_code() {
    let h = Harness::start().await;
    let muxed = MuxedAccount::new(NEW_ACCOUNT.parse::<AccountId>().unwrap(), 7).to_string();
    let broken_checksum = format!("{}A", &NEW_ACCOUNT[..55]);
    for (body, status, code) in [
        (
            format!(r#"{{"address":"{muxed}"}}"#),
            400,
            "INVALID_ACCOUNT",
        ),
        (
            format!(r#"{{"address":"{broken_checksum}"}}"#),
            400,
            "INVALID_ACCOUNT",
        ),
        (
            r#"{"address":"not an account"}"#.to_owned(),
            400,
            "INVALID_ACCOUNT",
        ),
        (
            format!(r#"{{"address":"{NEW_ACCOUNT}","start_cursor":"-1"}}"#),
            400,
            "INVALID_REQUEST",
        ),
        (
            format!(r#"{{"address":"{NEW_ACCOUNT}","start_cursor":"later"}}"#),
            400,
            "INVALID_REQUEST",
        ),
        (
            format!(
                r#"{{"address":"{NEW_ACCOUNT}","label":"{}"}}"#,
                "x".repeat(201)
            ),
            400,
            "INVALID_REQUEST",
        ),
        (
            format!(r#"{{"address":"{NEW_ACCOUNT}","colour":"red"}}"#),
            400,
            "ERROR_BAD_JSON",
        ),
    ] {
        assert_error(&h.post("/v1/accounts", None, &body).await, status, code);
    }
    assert_eq!(accounts_table(&h).await, 2, "nothing was added");
}

#[tokio::test]
async fn accounts_are_listed_in_pages_by_address() {
    let h = Harness::start().await;
    h.post(
        "/v1/accounts",
        None,
        &format!(r#"{{"address":"{NEW_ACCOUNT}","start_cursor":"5"}}"#),
    )
    .await;
    let first = body_json(&h.get("/v1/accounts?limit=2").await);
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let after = first["next_after"].as_str().unwrap().to_owned();
    let rest = body_json(&h.get(&format!("/v1/accounts?limit=2&after={after}")).await);
    let rest = rest["data"].as_array().unwrap();
    assert_eq!(rest.len(), 1);
    assert!(rest[0]["address"].as_str().unwrap() > after.as_str());
    let mut all: Vec<String> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest)
        .map(|a| a["address"].as_str().unwrap().to_owned())
        .collect();
    all.sort();
    let mut expected = vec![
        ACCOUNT.to_owned(),
        SECOND_ACCOUNT.to_owned(),
        NEW_ACCOUNT.to_owned(),
    ];
    expected.sort();
    assert_eq!(all, expected);
    // This harness runs no ingestion for the added account, and nothing leads it.
    let added = rest
        .iter()
        .chain(first["data"].as_array().unwrap())
        .find(|a| a["address"] == NEW_ACCOUNT)
        .unwrap();
    assert_eq!(added["state"], "not_running");
    assert_eq!(added["leading_instance"], Value::Null);
    assert_error(
        &h.get("/v1/accounts?after=nope").await,
        400,
        "INVALID_REQUEST",
    );
}

#[tokio::test]
async fn removal_waits_for_open_sessions_unless_pending_ones_may_expire() {
    let h = Harness::start().await;
    let s = h.create_session("on-the-default").await;
    assert_eq!(s["account"], ACCOUNT);

    assert_error(
        &h.delete(&format!("/v1/accounts/{ACCOUNT}")).await,
        409,
        "ACCOUNT_HAS_OPEN_SESSIONS",
    );
    assert_eq!(accounts_table(&h).await, 2);

    let removed = h
        .delete(&format!("/v1/accounts/{ACCOUNT}?expire_open=true"))
        .await;
    assert_eq!(
        removed.status,
        200,
        "{}",
        String::from_utf8_lossy(&removed.body)
    );
    assert_eq!(body_json(&removed)["expired_sessions"][0], s["id"]);
    let shown = body_json(
        &h.get(&format!("/v1/sessions/{}", s["id"].as_str().unwrap()))
            .await,
    );
    assert_eq!(shown["status"], "expired");
    assert_eq!(
        h.db.count(&format!(
            "SELECT count(*) FROM outbox_events WHERE session_id = '{}' AND event_type = 'session.expired'",
            s["id"].as_str().unwrap()
        ))
        .await,
        1
    );
    assert_error(
        &h.delete(&format!("/v1/accounts/{ACCOUNT}")).await,
        404,
        "NOT_FOUND",
    );
    assert_error(
        &h.delete("/v1/accounts/not-an-account").await,
        404,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn sessions_are_created_only_on_a_watched_account() {
    let h = Harness::start().await;
    let on_new = format!(r#"{{"amount":"1","asset":"native","account":"{NEW_ACCOUNT}"}}"#);
    assert_error(
        &h.post("/v1/sessions", Some("before-add"), &on_new).await,
        400,
        "UNKNOWN_ACCOUNT",
    );
    h.post(
        "/v1/accounts",
        None,
        &format!(r#"{{"address":"{NEW_ACCOUNT}"}}"#),
    )
    .await;
    let created = h.post("/v1/sessions", Some("after-add"), &on_new).await;
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );

    // The configured default, once removed, is no longer the default.
    let removed = h.delete(&format!("/v1/accounts/{ACCOUNT}")).await;
    assert_eq!(removed.status, 200);
    let s = h.create_session("default-after-removal").await;
    assert_eq!(s["account"], SECOND_ACCOUNT);
    let on_removed = format!(r#"{{"amount":"1","asset":"native","account":"{ACCOUNT}"}}"#);
    assert_error(
        &h.post("/v1/sessions", Some("on-removed"), &on_removed)
            .await,
        400,
        "UNKNOWN_ACCOUNT",
    );
}

#[tokio::test]
async fn the_cli_adds_lists_and_removes_an_account() {
    let h = Harness::start().await;
    let (code, out, err) = cli(
        &h,
        &format!("accounts add {NEW_ACCOUNT} --start-cursor 77 --label shop"),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(NEW_ACCOUNT), "{out}");
    let (code, out, _) = cli(&h, "--json accounts list").await;
    assert_eq!(code, 0);
    let page: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    let (code, out, err) = cli(&h, &format!("accounts remove {NEW_ACCOUNT}")).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("removed"), "{out}");
    assert_eq!(accounts_table(&h).await, 2);
}

#[tokio::test]
async fn readyz_fails_while_a_watched_account_has_no_leader_past_the_failover_bound() {
    use diesel_async::RunQueryDsl as _;
    let h = Harness::start_with(|_, state| state.unled_unready_after = Duration::ZERO).await;
    // The first probe starts the clock; past a zero bound the next one fails.
    h.get("/readyz").await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let r = h.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(String::from_utf8_lossy(&r.body).contains("no leader"));

    // An instance takes both accounts' locks (here: this test's connection): ready again.
    let mut leader = h.db.conn().await;
    for address in [ACCOUNT, SECOND_ACCOUNT] {
        let key = orbitpay::leader::lock_key(&address.parse::<AccountId>().unwrap());
        diesel::sql_query(format!("SELECT pg_advisory_lock({key})"))
            .execute(&mut leader)
            .await
            .unwrap();
    }
    let r = h.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}
