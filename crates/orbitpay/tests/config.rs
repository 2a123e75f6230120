//! Configuration: the documented defaults file, `check-config`, env overrides and secrets.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use orbitpay::config::{Config, Secret, WatchedAccount};

const ACCOUNT: &str = "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7";

fn default_toml_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml")
}

fn default_toml() -> String {
    std::fs::read_to_string(default_toml_path()).unwrap()
}

/// Leaf key paths of a TOML document; arrays are leaves.
fn leaf_keys(value: &toml::Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_keys(v, &path, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

/// The file with its commented-out `# key = value` lines enabled, unless the key is already set
/// in that section.
fn uncomment_optional_keys(text: &str) -> String {
    let mut out = String::new();
    let mut set_here: BTreeSet<String> = BTreeSet::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            set_here.clear();
        }
        if let Some((key, _)) = trimmed.split_once(" = ")
            && !key.starts_with('#')
        {
            set_here.insert(key.to_owned());
        }
        let optional = trimmed.strip_prefix("# ").and_then(|rest| {
            let (key, value) = rest.split_once(" = ")?;
            let plain_key = key.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            let one_line = format!("{key} = {value}").parse::<toml::Table>().is_ok();
            (plain_key && one_line && !set_here.contains(key)).then(|| (key.to_owned(), rest))
        });
        if let Some((key, rest)) = optional {
            set_here.insert(key);
            out.push_str(rest);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// A configuration with every optional key set, so its serialization names every key.
fn fully_populated() -> Config {
    let mut c = Config::default();
    c.database.password = Secret::new("x");
    c.database.password_file = Some("/x".into());
    c.admin.group = Some("orbitpay".into());
    c.metrics.listen = Some("127.0.0.1:9464".into());
    c.accounts = vec![WatchedAccount::new(ACCOUNT)];
    c.webhooks.url = Some("https://shop.example/hook".into());
    c.webhooks.secret_file = Some("/x".into());
    c.webhooks.previous_secret_file = Some("/y".into());
    c
}

#[test]
fn default_toml_is_config_default() {
    let parsed = Config::from_toml_str(&default_toml()).unwrap();
    assert_eq!(parsed, Config::default());
}

#[test]
fn default_toml_documents_every_key() {
    let enabled = uncomment_optional_keys(&default_toml());
    let documented: toml::Value = enabled.parse().unwrap();
    let mut documented_keys = BTreeSet::new();
    leaf_keys(&documented, "", &mut documented_keys);
    let full = toml::Value::try_from(fully_populated()).unwrap();
    let mut all_keys = BTreeSet::new();
    leaf_keys(&full, "", &mut all_keys);
    let missing: Vec<_> = all_keys.difference(&documented_keys).collect();
    let unknown: Vec<_> = documented_keys.difference(&all_keys).collect();
    assert!(
        missing.is_empty(),
        "keys missing from config/default.toml: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "config/default.toml documents unknown keys: {unknown:?}"
    );
    // Each key has a comment line somewhere above it in its section (it is documented, not
    // just listed): checked loosely as "the file has at least as many comment lines as keys".
    let comments = default_toml()
        .lines()
        .filter(|l| l.starts_with("# "))
        .count();
    assert!(comments >= all_keys.len());
}

fn orbitpay(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orbitpay"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ORBITPAY_") || k == "CREDENTIALS_DIRECTORY" || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.args(args).envs(envs.iter().copied());
    cmd.output().unwrap()
}

fn check_config(toml: &str, envs: &[(&str, &str)]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orbitpay.toml");
    std::fs::write(&path, toml).unwrap();
    let out = orbitpay(&["check-config", "--config", path.to_str().unwrap()], envs);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_accepts_the_defaults_file() {
    let out = orbitpay(
        &[
            "check-config",
            "--config",
            default_toml_path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    // The effective configuration round-trips.
    assert_eq!(Config::from_toml_str(&printed).unwrap(), Config::default());
}

#[test]
fn check_config_rejects_a_bad_cron_string() {
    let (ok, _, err) = check_config("[jobs]\nprune = \"*/5 * * * *\"\n", &[]);
    assert!(!ok);
    assert!(err.contains("jobs.prune"), "{err}");
    let (ok, _, err) = check_config("[jobs]\nprune = \"0 99 * * * *\"\n", &[]);
    assert!(!ok);
    assert!(err.contains("jobs.prune"), "{err}");
    for key in ["recovery", "expiry", "reconcile"] {
        let (ok, _, err) = check_config(&format!("[jobs]\n{key} = \"0 */5 * * *\"\n"), &[]);
        assert!(!ok);
        assert!(err.contains(&format!("jobs.{key}")), "{err}");
    }
}

#[test]
fn check_config_rejects_a_bad_account() {
    for bad in [
        "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN8", // checksum
        "MAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7", // not a G
        "hello",
    ] {
        let (ok, _, err) = check_config(&format!("accounts = [{{ address = \"{bad}\" }}]\n"), &[]);
        assert!(!ok, "{bad} accepted");
        assert!(err.contains("accounts"), "{err}");
    }
    let (ok, _, err) = check_config(
        &format!("accounts = [{{ address = \"{ACCOUNT}\" }}, {{ address = \"{ACCOUNT}\" }}]\n"),
        &[],
    );
    assert!(!ok);
    assert!(err.contains("twice"), "{err}");
    let (ok, _, err) = check_config(
        &format!("accounts = [{{ address = \"{ACCOUNT}\", start_cursor = \"soon\" }}]\n"),
        &[],
    );
    assert!(!ok);
    assert!(err.contains("start_cursor"), "{err}");
}

#[test]
fn check_config_rejects_unknown_keys() {
    let (ok, _, err) = check_config("[database]\npool_sise = 3\n", &[]);
    assert!(!ok);
    assert!(err.contains("pool_sise"), "{err}");
    let (ok, _, err) = check_config("[databse]\nurl = \"postgres://x@y/z\"\n", &[]);
    assert!(!ok);
    assert!(err.contains("databse"), "{err}");
    // From the environment too.
    let (ok, _, err) = check_config("", &[("ORBITPAY_LOG__LEVL", "debug")]);
    assert!(!ok);
    assert!(err.contains("levl"), "{err}");
}

#[test]
fn check_config_rejects_other_bad_values() {
    for (toml, needle) in [
        ("[log]\nformat = \"xml\"\n", "format"),
        ("[log]\nlevel = \"info,[[[\"\n", "log.level"),
        ("[metrics]\nlisten = \"0.0.0.0:9464\"\n", "loopback"),
        ("[admin]\nmode = \"0999\"\n", "admin.mode"),
        ("[database]\npool_size = 1\n", "pool_size"),
        ("[database]\nurl = \"postgres://u:pw@h/db\"\n", "password"),
        ("[sessions]\ndefault_expiry = \"soon\"\n", "default_expiry"),
    ] {
        let (ok, _, err) = check_config(toml, &[]);
        assert!(!ok, "{toml} accepted");
        assert!(err.contains(needle), "{toml}: {err}");
    }
}

#[test]
fn env_overrides_apply() {
    let (ok, out, err) = check_config(
        "[database]\npool_size = 4\n",
        &[
            ("ORBITPAY_DATABASE__POOL_SIZE", "20"),
            ("ORBITPAY_LOG__FORMAT", "pretty"),
            (
                "ORBITPAY_ACCOUNTS",
                &format!("[{{address=\"{ACCOUNT}\", start_cursor=\"42\"}}]"),
            ),
            // Not a key: ignored, not rejected.
            ("ORBITPAY_CONFIG_NOTE", "x"),
        ],
    );
    assert!(ok, "{err}");
    let c = Config::from_toml_str(&out).unwrap();
    assert_eq!(c.database.pool_size, 20);
    assert_eq!(c.log.format, orbitpay::config::LogFormat::Pretty);
    assert_eq!(c.accounts[0].address, ACCOUNT);
    assert_eq!(c.accounts[0].start_cursor.as_deref(), Some("42"));
}

#[test]
fn secrets_never_appear_in_check_config_output() {
    let dir = tempfile::tempdir().unwrap();
    let pw_file = dir.path().join("pw");
    std::fs::write(&pw_file, "file-secret-123\n").unwrap();
    let (ok, out, err) = check_config(
        &format!("[database]\npassword_file = \"{}\"\n", pw_file.display()),
        &[],
    );
    assert!(ok, "{err}");
    assert!(!out.contains("file-secret-123") && !err.contains("file-secret-123"));
    assert!(out.contains("[redacted]"), "{out}");

    let creds = tempfile::tempdir().unwrap();
    std::fs::write(creds.path().join("database-password"), "cred-secret-456").unwrap();
    let (ok, out, err) = check_config(
        "",
        &[("CREDENTIALS_DIRECTORY", creds.path().to_str().unwrap())],
    );
    assert!(ok, "{err}");
    assert!(!out.contains("cred-secret-456") && !err.contains("cred-secret-456"));
    assert!(out.contains("password = \"[redacted]\""), "{out}");

    let (ok, out, err) = check_config("[database]\npassword = \"inline-secret-789\"\n", &[]);
    assert!(ok, "{err}");
    assert!(!out.contains("inline-secret-789") && !err.contains("inline-secret-789"));

    // An error elsewhere in a file holding a secret does not echo the secret.
    let (ok, out, err) = check_config(
        "[database]\npassword = \"inline-secret-789\"\npool_size = 1\n",
        &[],
    );
    assert!(!ok);
    assert!(!out.contains("inline-secret-789") && !err.contains("inline-secret-789"));
}

#[test]
fn webhook_secrets_come_from_a_file_or_a_credential_never_the_config_and_never_show() {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const OLD: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let creds = tempfile::tempdir().unwrap();
    std::fs::write(creds.path().join("webhook-secret"), format!("{SECRET}\n")).unwrap();
    std::fs::write(creds.path().join("webhook-previous-secret"), OLD).unwrap();
    let creds_env = [("CREDENTIALS_DIRECTORY", creds.path().to_str().unwrap())];
    let hook = "[webhooks]\nurl = \"https://shop.example/hook\"\n";
    let (ok, out, err) = check_config(hook, &creds_env);
    assert!(ok, "{err}");
    for s in [SECRET, OLD, "MfKQ9r8G", "C2FVsBQI"] {
        assert!(
            !out.contains(s) && !err.contains(s),
            "{s} shown:\n{out}\n{err}"
        );
    }

    let file = creds.path().join("webhook-secret");
    let (ok, _, err) = check_config(
        &format!("{hook}secret_file = \"{}\"\n", file.display()),
        &[],
    );
    assert!(ok, "{err}");

    // A secret in the file itself is refused, without echoing it.
    let (ok, out, err) = check_config(&format!("{hook}secret = \"{SECRET}\"\n"), &creds_env);
    assert!(!ok);
    assert!(err.contains("secret"), "{err}");
    assert!(!out.contains(SECRET) && !err.contains(SECRET));

    // An endpoint without a secret, or a malformed secret, is a clear error.
    let (ok, _, err) = check_config(hook, &[]);
    assert!(!ok && err.contains("no signing secret"), "{err}");
    std::fs::write(creds.path().join("webhook-secret"), "whsec_c2hvcnQ=").unwrap();
    let (ok, _, err) = check_config(hook, &creds_env);
    assert!(!ok && err.contains("24 to 64 bytes"), "{err}");
}

#[test]
fn a_missing_config_file_is_an_error() {
    let out = orbitpay(
        &["check-config", "--config", "/nonexistent/orbitpay.toml"],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

/// Every validation message, word for word, and the first failing section wins: operators and
/// scripts read these.
#[test]
fn validation_messages_are_pinned() {
    let cases = [
        (
            "[database]\nurl = \"mysql://x@y/z\"\n",
            "database.url must start with postgres://".to_owned(),
        ),
        (
            "[database]\nurl = \"nowhere\"\n",
            "database.url: relative URL without a base".to_owned(),
        ),
        (
            "[database]\nurl = \"postgres://u:pw@h/db\"\n",
            "database.url must not embed a password: use database.password_file or the \
             database-password credential"
                .to_owned(),
        ),
        (
            "[database]\npool_size = 1\n",
            "database.pool_size must be at least 2".to_owned(),
        ),
        (
            "[horizon]\nurl = \"ftp://h/\"\n",
            "horizon.url must be an http:// or https:// URL".to_owned(),
        ),
        (
            "[stellar]\nnetwork = \" \"\n",
            "stellar.network must be `testnet`, `public` or a network passphrase".to_owned(),
        ),
        (
            &format!("accounts = [{{ address = \"{ACCOUNT}\" }}, {{ address = \"{ACCOUNT}\" }}]\n"),
            format!("accounts: {ACCOUNT} is listed twice"),
        ),
        (
            &format!("accounts = [{{ address = \"{ACCOUNT}\", start_cursor = \"soon\" }}]\n"),
            "accounts: start_cursor \"soon\" must be `now` or a paging token".to_owned(),
        ),
        (
            "[admin]\nsocket = \"\"\n",
            "admin.socket must be a path".to_owned(),
        ),
        (
            "[admin]\nmode = \"0999\"\n",
            "admin.mode \"0999\" must be an octal file mode like \"0660\"".to_owned(),
        ),
        (
            "[admin]\nmax_connections = 0\n",
            "admin.max_connections must be at least 1".to_owned(),
        ),
        (
            "[sessions]\ndefault_expiry = \"30s\"\n",
            "sessions.default_expiry must be at least 1m".to_owned(),
        ),
        (
            "[ingest]\nleader_retry = \"50ms\"\n",
            "ingest.leader_retry must be at least 100ms".to_owned(),
        ),
        (
            "[ingest]\nstuck_after = \"500ms\"\n",
            "ingest.stuck_after must be at least 1s".to_owned(),
        ),
        (
            "[jobs]\nprune = \"*/5 * * * *\"\n",
            "jobs.prune: \"*/5 * * * *\" has 5 fields; cron here takes six, \
             seconds first (e.g. \"0 */5 * * * *\")"
                .to_owned(),
        ),
        (
            "[metrics]\nlisten = \"0.0.0.0:9464\"\n",
            "metrics.listen \"0.0.0.0:9464\" must be a loopback address (127.0.0.0/8 or [::1])"
                .to_owned(),
        ),
        (
            "[metrics]\nrefresh_interval = \"500ms\"\n",
            "metrics.refresh_interval must be at least 1s".to_owned(),
        ),
        // Two bad sections: the one earlier in the file is reported.
        (
            "[admin]\nmax_connections = 0\n[ingest]\nleader_retry = \"50ms\"\n",
            "admin.max_connections must be at least 1".to_owned(),
        ),
        (
            "[database]\npool_size = 1\n[metrics]\nrefresh_interval = \"500ms\"\n",
            "database.pool_size must be at least 2".to_owned(),
        ),
    ];
    for (toml, message) in cases {
        let err = Config::from_toml_str(toml).unwrap_err().to_string();
        assert_eq!(err, format!("configuration: {message}"), "{toml}");
    }
    let err = Config::from_toml_str("[log]\nlevel = \"info,[[[\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("configuration: log.level \"info,[[[\": "),
        "{err}"
    );
}

#[test]
fn check_config_shows_the_effective_sslmode_and_never_the_password() {
    let (ok, out, err) = check_config(
        "[database]\nurl = \"postgres://orbitpay@db.example.com/pay\"\npassword = \"hunter2-tls\"\n",
        &[],
    );
    assert!(ok, "{err}");
    assert!(out.contains("# database TLS: sslmode=prefer"), "{out}");
    assert!(!out.contains("hunter2-tls") && !err.contains("hunter2-tls"));

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        orbitpay_testkit::certs::TestCa::new("db CA").cert_pem(),
    )
    .unwrap();
    let url = format!(
        "postgres://orbitpay@db.example.com/pay?sslmode=verify-full&sslrootcert={}",
        ca.display()
    );
    let (ok, out, err) = check_config(&format!("[database]\nurl = \"{url}\"\n"), &[]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!(
            "# database TLS: sslmode=verify-full (TLS; certificate chain checked against \
             sslrootcert {}, and the host name)",
            ca.display()
        )),
        "{out}"
    );
}

#[test]
fn check_config_refuses_tls_it_could_not_use() {
    for (url, words) in [
        (
            "postgres://db/pay?sslmode=verify-fool",
            "sslmode=\"verify-fool\"",
        ),
        (
            "postgres://db/pay?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            "sslrootcert /nonexistent/ca.pem",
        ),
        ("postgres://db/pay?sslcert=/c.pem", "sslcert and sslkey"),
    ] {
        let (ok, _, err) = check_config(&format!("[database]\nurl = \"{url}\"\n"), &[]);
        assert!(!ok, "{url} accepted");
        assert!(err.contains(words), "{url}: {err}");
    }
}

#[test]
fn ingest_mode_auto_follows_the_network_only_above_network_above() {
    use orbitpay::config::IngestMode;
    let c = Config::default();
    assert_eq!(c.ingest.mode, IngestMode::Auto);
    assert_eq!(c.ingest.mode_for(3), IngestMode::PerAccount);
    assert_eq!(c.ingest.mode_for(4), IngestMode::Network);
    let forced =
        Config::from_toml_str("[ingest]\nmode = \"per_account\"\nnetwork_above = 0\n").unwrap();
    assert_eq!(forced.ingest.mode_for(10_000), IngestMode::PerAccount);
    let network = Config::from_toml_str("[ingest]\nmode = \"network\"\n").unwrap();
    assert_eq!(network.ingest.mode_for(1), IngestMode::Network);
    assert!(Config::from_toml_str("[ingest]\nmode = \"both\"\n").is_err());
}
