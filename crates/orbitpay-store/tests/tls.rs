//! TLS to PostgreSQL, against a private cluster with `ssl = on` and a CA made in the test:
//! each `sslmode` connects or is refused as libpq's would, a refusal names its cause, and
//! every kind of connection the store opens (one-off, pooled, LISTEN, migrations) uses it.

use diesel::sql_types::Bool;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use orbitpay_store::listen::Listener;
use orbitpay_store::{PoolConfig, SessionSettings, StoreError, establish};
use orbitpay_testkit::TlsServer;
use orbitpay_testkit::certs::TestCa;

async fn connect(url: &str) -> Result<AsyncPgConnection, StoreError> {
    Ok(establish(url, &SessionSettings::default()).await?)
}

async fn encrypted(conn: &mut AsyncPgConnection) -> bool {
    #[derive(diesel::QueryableByName)]
    struct Ssl {
        #[diesel(sql_type = Bool)]
        ssl: bool,
    }
    diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .get_result::<Ssl>(conn)
        .await
        .unwrap()
        .ssl
}

async fn refusal(url: &str) -> String {
    match connect(url).await {
        Ok(_) => panic!("{url}: connected"),
        Err(e) => {
            eprintln!("{url}: {e}");
            e.to_string()
        }
    }
}

#[tokio::test]
async fn every_sslmode_connects_to_a_server_with_tls_and_only_disable_is_plain() {
    let pg = TlsServer::start().await;
    let root = pg.root_cert().display().to_string();
    for (params, tls) in [
        (format!("sslmode=verify-full&sslrootcert={root}"), true),
        (format!("sslmode=verify-ca&sslrootcert={root}"), true),
        ("sslmode=require".to_owned(), true),
        (String::new(), true),
        ("sslmode=prefer".to_owned(), true),
        ("sslmode=disable".to_owned(), false),
    ] {
        let url = pg.url("postgres", "localhost", &params);
        let mut conn = connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{params}: {e}"));
        assert_eq!(encrypted(&mut conn).await, tls, "{params}");
    }
}

#[tokio::test]
async fn server_errors_keep_their_sqlstate_over_tls_in_the_pool_too() {
    let pg = TlsServer::start().await;
    let root = pg.root_cert().display().to_string();
    let url = pg.url(
        "postgres",
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={root}"),
    );
    let pool = orbitpay_store::build_pool(&url, &PoolConfig::default()).unwrap();
    let mut conn = pool.get().await.unwrap();
    assert!(encrypted(&mut conn).await);
    let err = StoreError::from(conn.batch_execute("SELECT 1/0").await.unwrap_err());
    assert_eq!(err.sqlstate(), Some("22012"), "{err}");
}

#[tokio::test]
async fn a_certificate_from_another_ca_or_for_another_host_is_refused_with_its_reason() {
    let pg = TlsServer::start().await;
    let root = pg.root_cert().display().to_string();
    let other = pg
        .file("other.crt", &TestCa::new("someone else").cert_pem())
        .display()
        .to_string();

    for mode in ["verify-full", "verify-ca", "require"] {
        let url = pg.url(
            "postgres",
            "localhost",
            &format!("sslmode={mode}&sslrootcert={other}"),
        );
        let e = refusal(&url).await;
        assert!(
            e.contains("signed by an unknown authority") && e.contains(&other),
            "{mode}: {e}"
        );
    }

    // The certificate names localhost, not 127.0.0.1: only verify-full looks at the name.
    let by_address = |mode: &str| {
        pg.url(
            "postgres",
            "127.0.0.1",
            &format!("sslmode={mode}&sslrootcert={root}"),
        )
    };
    let e = refusal(&by_address("verify-full")).await;
    assert!(
        e.contains("host name mismatch") && e.contains("127.0.0.1") && e.contains("localhost"),
        "{e}"
    );
    connect(&by_address("verify-ca")).await.unwrap();
    // A name checked while connecting to an address (`hostaddr`), as behind a private DNS.
    let elsewhere = format!(
        "postgres://postgres@db.example.com:{}/postgres?hostaddr=127.0.0.1\
         &sslmode=verify-full&sslrootcert={root}",
        pg.cluster.port()
    );
    let e = refusal(&elsewhere).await;
    assert!(
        e.contains("host name mismatch") && e.contains("db.example.com"),
        "{e}"
    );
}

#[tokio::test]
async fn a_client_certificate_is_accepted_where_pg_hba_demands_cert() {
    let pg = TlsServer::start().await;
    let root = pg.root_cert().display().to_string();
    let verify = format!("sslmode=verify-full&sslrootcert={root}");

    let ours = pg.client_files("certuser", &pg.ca.as_ref().unwrap().client("certuser"));
    let mut conn = connect(&pg.url("certuser", "localhost", &format!("{verify}&{ours}")))
        .await
        .unwrap();
    assert!(encrypted(&mut conn).await);

    // Without one, the server's refusal (28000) comes through with its code.
    let err = connect(&pg.url("certuser", "localhost", &verify))
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.sqlstate(), Some("28000"), "{err}");

    let stranger = TestCa::new("someone else").client("certuser");
    let theirs = pg.client_files("stranger", &stranger);
    let e = refusal(&pg.url("certuser", "localhost", &format!("{verify}&{theirs}"))).await;
    assert!(e.contains("refused our client certificate"), "{e}");
}

#[tokio::test]
async fn a_key_others_can_read_is_refused_as_libpq_refuses_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let pg = TlsServer::start().await;
    let cert = pg.ca.as_ref().unwrap().client("certuser");
    let crt = pg.file("loose.crt", &cert.cert_pem);
    let key = pg.file("loose.key", &cert.key_pem);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let files = format!("sslcert={}&sslkey={}", crt.display(), key.display());
    let url = pg.url("certuser", "localhost", &format!("sslmode=require&{files}"));
    // Found by the start-up check ...
    let at_start = orbitpay_store::tls::TlsOptions::from_database_url(&url)
        .unwrap()
        .check()
        .unwrap_err()
        .to_string();
    assert!(at_start.contains("group or world access"), "{at_start}");
    // ... and, should the file change later, a connection error that is retried (a file
    // mid-rotation must not halt an account).
    let later = connect(&url).await.map(|_| ()).unwrap_err();
    assert!(
        later.to_string().contains("group or world access"),
        "{later}"
    );
    assert_eq!(
        later.class(),
        orbitpay_store::ErrorClass::Transient(orbitpay_store::TransientKind::Connection)
    );
}

#[tokio::test]
async fn require_is_refused_by_a_server_without_tls_and_prefer_goes_on_in_plain_text() {
    let pg = TlsServer::without_tls().await;
    for mode in ["require", "verify-ca", "verify-full"] {
        let e = refusal(&pg.url("postgres", "localhost", &format!("sslmode={mode}"))).await;
        assert!(e.contains("server does not support TLS"), "{mode}: {e}");
    }
    for params in ["sslmode=prefer", ""] {
        let mut conn = connect(&pg.url("postgres", "localhost", params))
            .await
            .unwrap();
        assert!(!encrypted(&mut conn).await, "{params}");
    }
}

#[tokio::test]
async fn the_listen_connection_uses_tls_and_hears_notify() {
    let pg = TlsServer::start().await;
    let root = pg.root_cert().display().to_string();
    let url = pg.url(
        "postgres",
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={root}"),
    );
    let mut listener = Listener::open(&url, "orbitpay_test").await.unwrap();
    let mut conn = connect(&url).await.unwrap();
    conn.batch_execute("NOTIFY orbitpay_test, 'hello'")
        .await
        .unwrap();
    let heard = tokio::time::timeout(std::time::Duration::from_secs(5), listener.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(heard.channel, "orbitpay_test");
    assert_eq!(heard.payload, "hello");

    #[derive(diesel::QueryableByName)]
    struct Listening {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        encrypted: i64,
    }
    let listening = diesel::sql_query(
        "SELECT count(*) AS encrypted FROM pg_stat_activity JOIN pg_stat_ssl USING (pid) \
         WHERE query LIKE 'LISTEN%' AND ssl",
    )
    .get_result::<Listening>(&mut conn)
    .await
    .unwrap();
    assert_eq!(listening.encrypted, 1, "the LISTEN session is encrypted");
}

#[tokio::test]
async fn migrations_run_over_tls() {
    let pg = TlsServer::start().await;
    let root = pg.root_cert().display().to_string();
    let url = pg.url(
        "postgres",
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={root}"),
    );
    let applied = orbitpay_store::run_migrations(&url).await.unwrap();
    assert!(!applied.is_empty());
}

#[tokio::test]
async fn channel_binding_which_orbitpay_cannot_offer_is_refused_by_name() {
    // Refused before any host is tried: nothing listens on port 1.
    let e =
        refusal("postgres://postgres@127.0.0.1:1/x?sslmode=verify-full&channel_binding=require")
            .await;
    assert!(
        e.contains("channel_binding=require is not supported"),
        "{e}"
    );
}
