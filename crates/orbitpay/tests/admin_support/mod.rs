//! Shared harness of the admin socket tests: a real PostgreSQL database (testkit), the real
//! router on a real Unix socket in a temporary directory, and test doubles for the two seams
//! the daemon wires (the matcher's report-tx path and the followers' status).
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use clap::Parser as _;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use orbitpay::admin::{
    AccountStatus, AdminState, IngestStatus, ReportError, ReportOutcome, ServeError, SocketOptions,
    TxReporter, bind, router,
};
use orbitpay_cli::{ApiResponse, Client};
use orbitpay_core::{AccountId, SessionStatus, TxHash};
use orbitpay_store::idempotency::KeyPolicy;
use orbitpay_store::models::ProcessingClaim;
use orbitpay_testkit::TestDb;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const ACCOUNT: &str = "GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN";
pub const SECOND_ACCOUNT: &str = "GBDEVU63Y6NTHJQQZIKVTC23NWLQVP3WJ2RI2OTSJTNYOIGICST6DUXR";
pub const USDC: &str = "USDC:GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN";

pub fn tx_hash(seed: u8) -> String {
    TxHash::from_bytes([seed; 32]).to_string()
}

/// What [`FakeReporter`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeMode {
    /// Confirmed within the wait: the session comes back `paid`.
    Settle,
    /// Not confirmed within the wait: `processing` under the hash.
    Processing,
    /// A store failure (500).
    Fail,
}

/// Test double of the matcher's report-tx path, for the HTTP layer only: it reads the session
/// from the database and answers as the real matcher would, but changes nothing in the
/// database. The end-to-end path with the real matcher is tested with the matcher.
pub struct FakeReporter {
    pool: orbitpay_store::DbPool,
    pub mode: Mutex<FakeMode>,
    pub calls: AtomicUsize,
    /// When set, each call waits for a permit: lets a test hold a request in flight.
    pub gate: Mutex<Option<Arc<Semaphore>>>,
}

impl FakeReporter {
    pub fn set_mode(&self, mode: FakeMode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl TxReporter for FakeReporter {
    async fn report_tx(
        &self,
        session_id: Uuid,
        tx_hash: TxHash,
        _wait: Duration,
    ) -> Result<ReportOutcome, ReportError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let gate = self.gate.lock().unwrap().clone();
        if let Some(gate) = gate {
            let _permit = gate.acquire().await.unwrap();
        }
        let mode = *self.mode.lock().unwrap();
        if mode == FakeMode::Fail {
            return Err(ReportError::from(orbitpay_store::StoreError::Corrupt(
                "SECRET-INTERNAL-DETAIL from the fake".into(),
            )));
        }
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(orbitpay_store::StoreError::from)?;
        let mut session = orbitpay_store::sessions::find(&mut conn, session_id)
            .await?
            .ok_or(ReportError::SessionNotFound)?;
        if session.status != SessionStatus::Pending {
            return Err(ReportError::InvalidState {
                status: session.status,
            });
        }
        match mode {
            FakeMode::Settle => {
                session.status = SessionStatus::Paid;
                session.amount_received = session.amount;
                Ok(ReportOutcome::Settled(session))
            }
            _ => {
                session.status = SessionStatus::Processing;
                session.processing = Some(ProcessingClaim {
                    tx_hash,
                    started_at: chrono::Utc::now(),
                    source: orbitpay_store::ClaimSource::ClientReport,
                });
                Ok(ReportOutcome::Processing(session))
            }
        }
    }
}

/// Test double of the followers' status.
#[derive(Default)]
pub struct FakeIngest(pub Mutex<Vec<AccountStatus>>);

impl IngestStatus for FakeIngest {
    fn accounts(&self) -> Vec<AccountStatus> {
        self.0.lock().unwrap().clone()
    }
}

pub fn account_status(state: &str) -> AccountStatus {
    AccountStatus {
        account: ACCOUNT.parse().unwrap(),
        cursor: Some(120_092_264_608_567_297),
        ledger: Some(27_960_913),
        lag_seconds: Some(1.5),
        state: state.to_owned(),
        reason: None,
        retrying_since: None,
        gap: false,
        reset: false,
        catch_up: None,
    }
}

/// One Prometheus recorder per test process, installed globally so the handlers' metrics
/// reach it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The default endpoint the admin state is configured with.
pub const WEBHOOK_URL: &str = "https://shop.example/hook";

pub struct Harness {
    pub db: TestDb,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub client: Client,
    pub reporter: Arc<FakeReporter>,
    pub ingest: Arc<FakeIngest>,
    pub shutdown: CancellationToken,
    pub server: Option<JoinHandle<Result<(), ServeError>>>,
}

pub fn socket_options(path: &Path) -> SocketOptions {
    SocketOptions {
        header_timeout: Duration::from_secs(3),
        shutdown_grace: Duration::from_secs(2),
        ..SocketOptions::new(path)
    }
}

/// What `start_cursor: now` resolves to in these tests.
pub const LEDGER_NOW: i64 = 4_294_967_296_000;

/// A ledger that is always at one position.
pub struct FixedLedger(pub i64);

#[async_trait::async_trait]
impl orbitpay::admin::LedgerPosition for FixedLedger {
    async fn now_token(&self) -> Result<i64, String> {
        Ok(self.0)
    }
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(|_, _| {}).await
    }

    /// Starts with the socket options and state adjusted by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut SocketOptions, &mut AdminState)) -> Harness {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .try_init();
        let db = TestDb::new().await;
        // Watched, as the daemon's start applies them from the config.
        db.exec(&format!(
            "INSERT INTO watched_accounts (address, start_cursor, start_token, added_by) VALUES
               ('{ACCOUNT}', '0', 0, 'config'), ('{SECOND_ACCOUNT}', '0', 0, 'config')"
        ))
        .await;
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("admin.sock");
        let reporter = Arc::new(FakeReporter {
            pool: db.pool(),
            mode: Mutex::new(FakeMode::Settle),
            calls: AtomicUsize::new(0),
            gate: Mutex::new(None),
        });
        let ingest = Arc::new(FakeIngest(Mutex::new(vec![account_status("streaming")])));
        let mut state = AdminState {
            pool: db.pool(),
            accounts: vec![
                ACCOUNT.parse::<AccountId>().unwrap(),
                SECOND_ACCOUNT.parse().unwrap(),
            ],
            ledger: Some(Arc::new(FixedLedger(LEDGER_NOW))),
            source: None,
            refunds: orbitpay::config::RefundsConfig::default(),
            // The harness runs no leader: its accounts are never led.
            unled_unready_after: Duration::from_secs(3600),
            unled_since: Default::default(),
            network_mode: false,
            network_passphrase: orbitpay::config::TESTNET_PASSPHRASE.to_owned(),
            default_expiry: Duration::from_secs(900),
            key_policy: KeyPolicy::default(),
            confirm_wait: Duration::from_secs(5),
            body_timeout: Duration::from_secs(3),
            retrying_unready_after: Duration::from_secs(120),
            reporter: reporter.clone(),
            ingest: ingest.clone(),
            metrics: metrics_handle(),
            version: "test".to_owned(),
            webhook_url: Some(WEBHOOK_URL.to_owned()),
            webhooks_configured: true,
        };
        let mut options = socket_options(&socket);
        tweak(&mut options, &mut state);
        let listener = bind(options).await.expect("bind the admin socket");
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(listener.serve(router(Arc::new(state)), shutdown.clone()));
        let client = Client::new(&socket).unwrap();
        Harness {
            db,
            dir,
            socket,
            client,
            reporter,
            ingest,
            shutdown,
            server: Some(server),
        }
    }

    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    pub async fn get(&self, path: &str) -> ApiResponse {
        self.client.get(path).await.unwrap()
    }

    pub async fn post(&self, path: &str, key: Option<&str>, body: &str) -> ApiResponse {
        let headers: Vec<(&str, &str)> = key
            .map(|k| vec![("Idempotency-Key", k)])
            .unwrap_or_default();
        self.client
            .send(
                orbitpay_cli::client::Method::POST,
                path,
                &headers,
                Some(body.as_bytes().to_vec()),
            )
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str) -> ApiResponse {
        self.client
            .send(orbitpay_cli::client::Method::DELETE, path, &[], None)
            .await
            .unwrap()
    }

    /// Creates a session (USDC 12.5) and returns its JSON.
    pub async fn create_session(&self, key: &str) -> Value {
        let r = self
            .post(
                "/v1/sessions",
                Some(key),
                &format!(r#"{{"amount":"12.5","asset":"{USDC}"}}"#),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json().unwrap()
    }
}

/// Runs `orbitpay <args>` against the harness; returns (exit code, stdout, stderr).
pub async fn cli(h: &Harness, args: &str) -> (i32, String, String) {
    let argv = std::iter::once("orbitpay").chain(args.split_whitespace());
    let parsed = orbitpay_cli::Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{args}: {e}"));
    let socket =
        orbitpay_cli::resolve_socket(parsed.global.socket.clone(), || Some(h.socket.clone()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = orbitpay_cli::run(
        &parsed.command,
        &socket,
        parsed.global.json,
        &mut out,
        &mut err,
    )
    .await;
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

pub fn body_json(r: &ApiResponse) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&r.body)))
}

/// Asserts an error answer: status and code.
#[track_caller]
pub fn assert_error(r: &ApiResponse, status: u16, code: &str) {
    let text = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, status, "{text}");
    assert_eq!(r.error_code().as_deref(), Some(code), "{text}");
}

/// A raw HTTP exchange on a fresh connection (`Connection: close`): the status line's code
/// and the body.
pub async fn raw_exchange(socket: &Path, request: &[u8]) -> (u16, String) {
    let mut stream = UnixStream::connect(socket).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
