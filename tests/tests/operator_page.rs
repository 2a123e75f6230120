//! The operator page in a real browser: headless Chromium driven over WebDriver (chromedriver)
//! through `orbitpay ui`'s loopback proxy, against a daemon on the simulator. The tests assert
//! on what a person sees, and keep a screenshot of each page in `target/ui-screenshots/`.
//!
//! Chromium and chromedriver must be installed (Debian: `chromium`, `chromium-driver`; `.ci/run`
//! installs them): without them these tests fail and say so.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use orbitpay_cli::ui::UiProxy;
use orbitpay_core::{Address, Amount, Asset, Memo, MuxedAccount, RefundOperation, RefundTx};
use orbitpay_horizon_sim::{Op, Tx, units};
use orbitpay_store::models::RefundRow;
use serde_json::{Value, json};

fn find_binary(env: &str, candidates: &[&str]) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return PathBuf::from(p);
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "the operator page's browser tests need Chromium and chromedriver: install them \
                 (apt-get install -y chromium chromium-driver) or set {env}; looked for {candidates:?}"
            )
        })
}

/// chromedriver on a free port, and a headless Chromium session through it.
struct Browser {
    driver: Child,
    client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let chromium = find_binary(
            "CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        );
        let chromedriver = find_binary("CHROMEDRIVER", &["/usr/bin/chromedriver"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session through chromedriver");
        Browser {
            driver,
            client,
            _profile: profile,
        }
    }

    /// Keeps a PNG of what the browser shows.
    async fn screenshot(&self, name: &str) {
        let dir = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/ui-screenshots"
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The daemon, the proxy in front of its socket, and a browser that opened the proxy's URL.
async fn open(running: &common::Running) -> (Browser, String) {
    let proxy = UiProxy::bind("127.0.0.1:0".parse().unwrap(), running.admin_socket.clone())
        .await
        .unwrap();
    let url = proxy.url().to_owned();
    tokio::spawn(proxy.serve(std::future::pending()));
    let base = url.split("/ui/").next().unwrap().to_owned();
    let browser = Browser::start().await;
    browser.client.goto(&url).await.unwrap();
    (browser, base)
}

async fn create(running: &common::Running, key: &str) -> Value {
    let r = running
        .client
        .post_json(
            "/v1/sessions",
            &[("Idempotency-Key", key)],
            &json!({ "amount": "5", "asset": "native", "order_id": key }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    r.json().unwrap()
}

async fn until(running: &common::Running, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..400 {
        let v = running.get(path).await;
        if done(&v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting on {path}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_shows_on_the_overview_its_tx_hash_finds_it_and_its_timeline_reads_in_order() {
    let running = common::start(2601, |_| {}).await;
    let session = create(&running, "order-2601").await;
    let id = session["id"].as_str().unwrap().to_owned();
    let reference: u64 = session["reference"].as_str().unwrap().parse().unwrap();
    let to = MuxedAccount::new(running.shop, reference);
    let tx = Tx::new(running.payer).op(Op::payment(running.payer, to, Asset::Native, units(5)));
    let hash = running.sim.close_ledger(vec![tx]).txs[0].hash.clone();
    until(&running, &format!("/v1/sessions/{id}"), |s| {
        s["status"] == "paid"
    })
    .await;

    let (browser, base) = open(&running).await;
    // The token was swapped for the cookie: the address bar no longer holds it.
    let url = browser.client.current_url().await.unwrap();
    assert_eq!(url.path(), "/ui/");
    assert!(url.query().is_none(), "{url}");
    let today = browser.text("#sessions-today").await;
    assert!(
        today.contains("paid\n1") || today.contains("paid 1"),
        "{today}"
    );
    let credited = browser.text("#credited-today").await;
    assert!(
        credited.contains("XLM") && credited.contains('5'),
        "{credited}"
    );
    let accounts = browser.text("#accounts").await;
    assert!(
        accounts.contains(&running.shop.to_string()[..6]),
        "{accounts}"
    );
    browser.screenshot("overview").await;

    let search = browser
        .client
        .find(Locator::Css("header form.search input[name=q]"))
        .await
        .unwrap();
    search.send_keys(&hash).await.unwrap();
    browser
        .client
        .find(Locator::Css("header form.search button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .client
        .wait()
        .for_element(Locator::Css("form.search.wide"))
        .await
        .unwrap();
    browser.screenshot("sessions-search").await;
    let found = browser.text("main").await;
    assert!(
        found.contains(&id),
        "the search by tx hash finds the session: {found}"
    );
    assert_eq!(
        browser
            .client
            .find_all(Locator::Css("#sessions tbody tr"))
            .await
            .unwrap()
            .len(),
        1
    );

    browser
        .client
        .find(Locator::LinkText(&id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut steps = Vec::new();
    for li in browser
        .client
        .find_all(Locator::Css("ol.timeline li"))
        .await
        .unwrap()
    {
        steps.push(li.text().await.unwrap());
    }
    let what: Vec<&str> = steps
        .iter()
        .map(|s| s.split_whitespace().next().unwrap_or(""))
        .collect();
    let at = |w: &str| {
        what.iter()
            .position(|x| *x == w)
            .unwrap_or_else(|| panic!("no `{w}` in the timeline {steps:?}"))
    };
    assert!(at("created") < at("claimed"), "{steps:?}");
    assert!(at("claimed") < at("credited"), "{steps:?}");
    assert!(at("credited") < at("paid"), "{steps:?}");
    let credited = &steps[at("credited")];
    assert!(
        credited.contains(&hash) && credited.contains("ledger"),
        "{credited}"
    );
    browser.screenshot("session").await;

    // Without the cookie (a fresh client), the proxy refuses.
    let plain = reqwest_get(&format!("{base}/ui/")).await;
    assert_eq!(plain, 403);
    browser.stop().await;
    running.stop().await;
}

async fn reqwest_get(url: &str) -> u16 {
    // A raw HTTP/1.1 GET: no cookie jar, no token.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf);
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_delivery_is_listed_with_the_status_code_it_got() {
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", receiver.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down") });
    tokio::spawn(async move { axum::serve(receiver, app).await });
    let running = common::start(2602, move |c| {
        c.webhooks.url = Some(hook);
        c.webhooks.secret =
            orbitpay::config::Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=");
        c.webhooks.allow_private = true;
        c.webhooks.max_attempts = 1;
        c.webhooks.poll_interval = Duration::from_millis(50);
    })
    .await;
    create(&running, "order-2602").await;
    until(&running, "/v1/webhooks/deliveries?status=dead", |d| {
        !d["data"].as_array().unwrap().is_empty()
    })
    .await;

    let (browser, base) = open(&running).await;
    let outbox = browser.text("#outbox").await;
    assert!(
        outbox.contains("Dead\n1") || outbox.contains("Dead 1"),
        "{outbox}"
    );
    browser
        .client
        .goto(&format!("{base}/ui/webhooks"))
        .await
        .unwrap();
    let dead = browser.text("#dead").await;
    assert!(dead.contains("/hook") && dead.contains("503"), "{dead}");
    let attempts = browser.text("#attempts").await;
    assert!(attempts.contains("503"), "{attempts}");
    browser.screenshot("webhooks").await;
    browser.stop().await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_memo_is_shown_as_text() {
    let running = common::start(2603, |_| {}).await;
    let memo = b"<script>x</script>\"'\0".to_vec();
    let tx = Tx::new(running.payer).memo_text(memo).op(Op::payment(
        running.payer,
        running.shop,
        Asset::Native,
        units(3),
    ));
    running.sim.close_ledger(vec![tx]);
    until(&running, "/v1/payments/unmatched", |u| {
        !u["data"].as_array().unwrap().is_empty()
    })
    .await;

    let (browser, base) = open(&running).await;
    browser
        .client
        .goto(&format!("{base}/ui/money"))
        .await
        .unwrap();
    let memo = browser.text("#unmatched td.memo code").await;
    assert_eq!(
        memo, "<script>x</script>\"'\\x00",
        "the memo reads as its characters"
    );
    assert!(
        browser
            .client
            .find_all(Locator::Css("script"))
            .await
            .unwrap()
            .is_empty(),
        "no script element came from the memo"
    );
    let row = browser.text("#unmatched tbody tr.unmatched-row").await;
    assert!(row.contains("no_reference") && row.contains('3'), "{row}");
    assert!(
        row.contains(&running.payer.to_string()[..6]),
        "who paid: {row}"
    );
    browser.screenshot("money").await;

    // Refunded with the payer's own memo echoed back: the refunds page shows it as text too.
    let unmatched = running.get("/v1/payments/unmatched").await;
    let id = unmatched["data"][0]["id"].as_i64().unwrap();
    let hostile = b"<script>x</script>\"'\0".to_vec();
    let mut refund = refund_of(&running, id, 30_000_000);
    refund.memo_type = "text".into();
    refund.memo_value = Some(orbitpay_core::text::escape(&hostile));
    refund.memo_bytes = Some(hostile);
    create_refund(&running, &refund).await;
    browser
        .client
        .goto(&format!("{base}/ui/refunds"))
        .await
        .unwrap();
    let memo = browser.text("#refunds .memo code").await;
    assert_eq!(
        memo, "<script>x</script>\"'\\x00",
        "the refund's memo as text"
    );
    assert!(
        browser
            .client
            .find_all(Locator::Css("script"))
            .await
            .unwrap()
            .is_empty(),
        "no script element came from the refund's memo"
    );
    browser.stop().await;
    running.stop().await;
}

/// An awaiting refund of the unmatched payment `unmatched_id` back to the payer, with a real
/// unsigned envelope (as the admin API builds it).
fn refund_of(running: &common::Running, unmatched_id: i64, stroops: i64) -> RefundRow {
    let valid_until = chrono::Utc::now() + chrono::Duration::minutes(15);
    let envelope = RefundTx {
        source: running.shop,
        sequence: 4_294_967_297,
        fee: 1000,
        valid_until: valid_until.timestamp() as u64,
        memo: Memo::None,
        asset: Asset::Native,
        amount: Amount::from_stroops(stroops).unwrap(),
        operation: RefundOperation::Payment {
            destination: Address::Account(running.payer),
        },
    }
    .to_xdr_base64()
    .unwrap();
    let now = chrono::Utc::now();
    RefundRow {
        id: uuid::Uuid::now_v7(),
        unmatched_id: Some(unmatched_id),
        session_id: None,
        account: running.shop.to_string(),
        amount: stroops,
        asset: "native".into(),
        destination: running.payer.to_string(),
        memo_type: "none".into(),
        memo_value: None,
        memo_bytes: None,
        method: "payment".into(),
        status: orbitpay_store::refunds::AWAITING_SIGNATURE.into(),
        envelope_xdr: envelope,
        sequence: 4_294_967_297,
        valid_until,
        tx_hash: None,
        closed_at: None,
        created_at: now,
        updated_at: now,
    }
}

async fn create_refund(running: &common::Running, refund: &RefundRow) {
    let mut conn = running.db().conn().await;
    orbitpay_store::refunds::create(&mut conn, refund)
        .await
        .unwrap()
        .expect("the refund fits what was received");
}

/// The text of the QR code in a PNG, as a wallet's camera would read it.
fn decode_qr(png: &[u8]) -> String {
    let img = image::load_from_memory(png).unwrap().to_luma8();
    let (w, h) = img.dimensions();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
            img.get_pixel(x as u32, y as u32).0[0]
        });
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the screenshot");
    grids[0].decode().unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_awaiting_refund_shows_a_qr_code_that_decodes_to_its_uri_and_is_on_the_overview() {
    let running = common::start(2604, |_| {}).await;
    let tx = Tx::new(running.payer).op(Op::payment(
        running.payer,
        running.shop,
        Asset::Native,
        units(3),
    ));
    running.sim.close_ledger(vec![tx]);
    let unmatched = until(&running, "/v1/payments/unmatched", |u| {
        !u["data"].as_array().unwrap().is_empty()
    })
    .await;
    let id = unmatched["data"][0]["id"].as_i64().unwrap();
    let refund = refund_of(&running, id, 30_000_000);
    create_refund(&running, &refund).await;
    let uri = refund.sep7_uri(orbitpay_horizon_sim::TESTNET_PASSPHRASE);

    let (browser, _) = open(&running).await;
    let awaiting = browser.text("#refunds-awaiting").await;
    assert!(
        awaiting.contains("1 in XLM") && awaiting.contains('3'),
        "{awaiting}"
    );
    let to_look_at = browser.text("#to-look-at").await;
    assert!(
        to_look_at.contains("unresolved\n1") || to_look_at.contains("unresolved 1"),
        "an awaiting refund resolves nothing: {to_look_at}"
    );
    browser
        .client
        .find(Locator::Css("#refunds-awaiting a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let card = browser.text(&format!("#refund-{}", refund.id)).await;
    assert!(
        card.contains(&running.payer.to_string()) && card.contains("awaiting signature"),
        "{card}"
    );
    assert!(card.contains("3 XLM"), "{card}");
    let qr = browser
        .client
        .find(Locator::Css(&format!(
            "#refund-{} figure.qr svg",
            refund.id
        )))
        .await
        .unwrap();
    let png = qr.screenshot().await.unwrap();
    assert_eq!(
        decode_qr(&png),
        uri,
        "the code a wallet scans is the refund's URI"
    );
    browser.screenshot("refunds").await;
    browser.stop().await;
    running.stop().await;
}
