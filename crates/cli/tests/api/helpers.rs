//! `spawn_app()`: a real Backflow on a random port, against a fresh database;
//! `Receiver`: a merchant's notification endpoint; `assert_ledger_sound`.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use backflow::demo::MerchantCredentialsFile;
use backflow::storage::StorageArgs;
use backflow::{Application, ServeConfig};
use backflow_crypto::ams::{parse_signature_header, signature_header, signed_content};
use backflow_crypto::{decode_pem_body, SigningKey, VerifyingKey};
use backflow_domain::Timestamp;
use backflow_engine::clock::ManualClock;
use backflow_engine::{Engine, MerchantSpec};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per storage backend.
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(crate::helpers::Backend::Postgres).await
            }
        }
    };
}
pub(crate) use on_both_backends;

/// The PostgreSQL server tests create their databases on.
fn postgres_admin_url() -> String {
    std::env::var("BACKFLOW_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh PostgreSQL database for one test; databases of earlier runs are dropped once per process.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    static CLEANED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let admin = postgres_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("PostgreSQL must be reachable at BACKFLOW_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test)");
    let pid = std::process::id();
    CLEANED
        .get_or_init(|| async {
            let mut c = sqlx::PgConnection::connect(&admin).await.expect("postgres");
            let old: Vec<(String,)> =
                sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'bf_test_%'")
                    .fetch_all(&mut c)
                    .await
                    .expect("list databases");
            // Only databases of test processes that are gone: another run may be going on.
            let owner_alive = |name: &str| {
                name.strip_prefix("bf_test_")
                    .and_then(|rest| rest.split('_').next())
                    .is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
            };
            for (name,) in old {
                if !owner_alive(&name) {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .execute(&mut c)
                            .await;
                }
            }
        })
        .await;
    let name = format!("bf_test_{pid}_{}", backflow_engine::ids::random_token(10));
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .expect("create database");
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(b, _)| b)
        .to_owned();
    format!("{base}/{name}")
}

/// The admin API's bearer token in tests.
pub const ADMIN_TOKEN: &str = "test-admin-token";

pub struct TestApp {
    pub addr: SocketAddr,
    pub https_addr: SocketAddr,
    pub engine: Engine,
    pub clock: Arc<ManualClock>,
    pub merchant: TestMerchant,
    pub http: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    /// The database the app runs on, for tests that reach past it.
    pub database_url: String,
    /// The app's notifier; no background loop runs, tests step it with `dispatch_due`.
    pub notifier: backflow_notify::Notifier,
}

/// A merchant's side of the wire: its key and the platform key it trusts.
#[derive(Clone)]
pub struct TestMerchant {
    pub client_id: String,
    pub key: Arc<SigningKey>,
    pub platform: VerifyingKey,
}

impl TestMerchant {
    pub fn from_credentials(c: MerchantCredentialsFile) -> Self {
        let pkcs8 = decode_pem_body(
            c.merchant_private_key_pkcs8
                .as_deref()
                .expect("generated key"),
        )
        .expect("base64");
        Self {
            client_id: c.client_id.clone(),
            key: Arc::new(SigningKey::from_pkcs8_der(&pkcs8).expect("key")),
            platform: VerifyingKey::from_base64(&c.platform_public_key).expect("platform key"),
        }
    }

    /// A signed request for the sandbox API operation `op`.
    pub fn signed(&self, op: &str, body: Vec<u8>) -> Signed {
        let path = format!("/ams/sandbox/api/v1/payments/{op}");
        let time = "2026-11-23T17:55:29+00:00";
        let signature = self.sign(&path, time, &body);
        Signed {
            headers: vec![
                (
                    "Content-Type".into(),
                    "application/json; charset=UTF-8".into(),
                ),
                ("Client-Id".into(), self.client_id.clone()),
                ("Request-Time".into(), time.into()),
                ("Signature".into(), signature),
            ],
            path,
            body,
        }
    }

    /// Signs `body` for `path` the way the SDKs do.
    pub fn sign(&self, path: &str, time: &str, body: &[u8]) -> String {
        let sig = self
            .key
            .sign_sha256(&signed_content("POST", path, &self.client_id, time, body))
            .expect("sign");
        signature_header(1, &sig)
    }
}

/// A signed request, ready to send.
pub struct Signed {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Signed {
    /// The request, ready to send to the server at `base` (`http://host:port`).
    pub fn post(&self, http: &reqwest::Client, base: &str) -> reqwest::RequestBuilder {
        let mut builder = http
            .post(format!("{base}{}", self.path))
            .body(self.body.clone());
        for (k, v) in &self.headers {
            builder = builder.header(k, v);
        }
        builder
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_configured(
        backend,
        |_| backflow_engine::EngineSettings::default(),
        backflow_store::WriterSettings::default(),
    )
    .await
}

/// [`spawn_app`] with engine settings made for its data directory.
pub async fn spawn_app_with(
    backend: Backend,
    settings: impl FnOnce(&std::path::Path) -> backflow_engine::EngineSettings,
) -> TestApp {
    spawn_app_configured(backend, settings, backflow_store::WriterSettings::default()).await
}

/// [`spawn_app`] with SQLite's writer shared as `writer` says.
pub async fn spawn_app_with_writer(
    backend: Backend,
    writer: backflow_store::WriterSettings,
) -> TestApp {
    spawn_app_configured(
        backend,
        |_| backflow_engine::EngineSettings::default(),
        writer,
    )
    .await
}

async fn spawn_app_configured(
    backend: Backend,
    settings: impl FnOnce(&std::path::Path) -> backflow_engine::EngineSettings,
    writer: backflow_store::WriterSettings,
) -> TestApp {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_database().await),
    };
    // A fixed, recent start so windows and ids are deterministic; tests move it.
    let clock = Arc::new(ManualClock::new(Timestamp(1_795_000_000_000)));
    let storage = StorageArgs {
        data_dir: data_dir.path().to_path_buf(),
        database_url,
        writer_queue: writer.queue,
    };
    let database_url = storage.url().expect("database url");
    let app = Application::build(ServeConfig {
        storage,
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        https_addr: Some("127.0.0.1:0".parse().expect("addr")),
        tls: None,
        clock: clock.clone(),
        settings: settings(data_dir.path()),
        admin_token: ADMIN_TOKEN.into(),
        notifier: test_notifier_config(),
    })
    .await
    .expect("build app");
    let notifier = app.notifier().clone();
    let addr = app.http_addr();
    let https_addr = app.https_addr().expect("https");
    let engine = app.engine().clone();
    let demo = backflow::demo::ensure_demo_merchant(&engine, data_dir.path())
        .await
        .expect("demo merchant");
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        addr,
        https_addr,
        engine,
        clock,
        merchant: TestMerchant::from_credentials(demo),
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("client"),
        data_dir,
        database_url,
        notifier,
    }
}

impl TestApp {
    /// Holds SQLite's writer, as a long write would, once no background
    /// write (the scheduler's) has it: with no room to wait, `begin` is refused meanwhile.
    pub async fn hold_writer(&self) -> backflow_store::Tx {
        loop {
            match self.engine.store_for_tests().begin().await {
                Ok(tx) => return tx,
                Err(backflow_store::StoreError::Busy { .. }) => tokio::task::yield_now().await,
                Err(e) => panic!("begin: {e}"),
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A signed request for the sandbox API operation `op`.
    pub fn signed(&self, op: &str, body: &Value) -> Signed {
        self.signed_as(
            &self.merchant,
            op,
            serde_json::to_vec_pretty(body).expect("json"),
        )
    }

    pub fn signed_as(&self, m: &TestMerchant, op: &str, body: Vec<u8>) -> Signed {
        m.signed(op, body)
    }

    /// Sends a signed request; checks the HTTP status and the response signature; returns the body.
    pub async fn send(&self, req: &Signed) -> Value {
        let (status, body) = self.send_raw(req).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn send_raw(&self, req: &Signed) -> (u16, Value) {
        let resp = req
            .post(&self.http, &self.url(""))
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let raw = resp.bytes().await.expect("body");
        let client_id = headers
            .get("client-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if client_id == self.merchant.client_id {
            let time = headers
                .get("response-time")
                .and_then(|v| v.to_str().ok())
                .expect("response-time");
            let sig = headers
                .get("signature")
                .and_then(|v| v.to_str().ok())
                .expect("signature");
            let parsed = parse_signature_header(sig).expect("signature header");
            let content = signed_content("POST", &req.path, &client_id, time, &raw);
            assert!(
                self.merchant
                    .platform
                    .verify_sha256(&content, &parsed.signature),
                "response signature must verify"
            );
        }
        (status, serde_json::from_slice(&raw).expect("JSON body"))
    }

    pub async fn call(&self, op: &str, body: Value) -> Value {
        self.send(&self.signed(op, &body)).await
    }

    /// A wallet payment that succeeded at once.
    pub async fn paid_payment(&self, currency: &str, value: &str) -> String {
        self.payment("GCASH", "AGREEMENT_PAYMENT", currency, value, false)
            .await
    }

    pub async fn payment(
        &self,
        method: &str,
        product: &str,
        currency: &str,
        value: &str,
        authorise: bool,
    ) -> String {
        let body = self
            .call("pay", pay_body(method, product, currency, value, authorise))
            .await;
        body["paymentId"]
            .as_str()
            .unwrap_or_else(|| panic!("pay failed: {body}"))
            .to_owned()
    }

    pub async fn refund(
        &self,
        payment_id: &str,
        request_id: &str,
        currency: &str,
        value: &str,
    ) -> Value {
        self.call(
            "refund",
            json!({
                "refundRequestId": request_id,
                "paymentId": payment_id,
                "refundAmount": {"currency": currency, "value": value},
            }),
        )
        .await
    }

    /// Another merchant in the same deployment.
    pub async fn another_merchant(&self, sandbox: bool) -> TestMerchant {
        let created = self
            .engine
            .create_merchant(MerchantSpec {
                name: "Other".into(),
                sandbox,
                ..MerchantSpec::default()
            })
            .await
            .expect("merchant");
        TestMerchant::from_credentials(created.into())
    }
}

pub fn code(v: &Value) -> (&str, &str) {
    (
        v["result"]["resultCode"].as_str().unwrap_or(""),
        v["result"]["resultStatus"].as_str().unwrap_or(""),
    )
}

/// The notifier in tests: stepped by `dispatch_due` on the manual clock, a
/// short POST timeout for hanging receivers, small concurrency bounds.
pub fn test_notifier_config() -> backflow_notify::NotifierConfig {
    backflow_notify::NotifierConfig {
        poll_interval: None,
        post_timeout: std::time::Duration::from_millis(1500),
        max_in_flight: 16,
        max_in_flight_per_merchant: 4,
        ..backflow_notify::NotifierConfig::default()
    }
}

/// A `backflow serve` child process, killed with SIGKILL when dropped.
pub struct Server {
    child: std::process::Child,
    /// Its plain HTTP address.
    pub addr: SocketAddr,
}

impl Server {
    /// Sends SIGTERM, as a service manager does, and waits up to `bound` for the exit.
    pub fn terminate(mut self, bound: std::time::Duration) -> std::process::ExitStatus {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "cannot signal backflow serve");
        let deadline = std::time::Instant::now() + bound;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "backflow serve did not stop within {bound:?} of SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `backflow serve` on `data_dir` (SQLite there), on free ports.
pub fn serve(data_dir: &std::path::Path) -> Server {
    serve_with(data_dir, |_| {})
}

/// `serve`, with `configure` applied last to the command (flags, environment, standard error).
pub fn serve_with(
    data_dir: &std::path::Path,
    configure: impl FnOnce(&mut std::process::Command),
) -> Server {
    use std::io::BufRead;
    let mut command = backflow();
    command
        .args([
            "serve",
            "--http-addr",
            "127.0.0.1:0",
            "--https-addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env("BACKFLOW_NOTIFY_TIMEOUT_SECS", "2")
        .env("BACKFLOW_NOTIFY_CLAIM_SECS", "3")
        .env("BACKFLOW_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    configure(&mut command);
    let mut child = command.spawn().expect("spawn backflow serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let ready = lines.any(|l| l.is_ok_and(|l| l.contains("Backflow is serving")));
    assert!(ready, "backflow serve did not start");
    let addr = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| {
            l.trim()
                .strip_prefix("HTTP")
                .and_then(|rest| rest.trim().strip_prefix("http://"))
                .and_then(|a| a.parse().ok())
        })
        .expect("the HTTP address follows the banner");
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, addr }
}

/// A `pay` request with a fresh request id.
pub fn pay_body(
    method: &str,
    product: &str,
    currency: &str,
    value: &str,
    authorise: bool,
) -> Value {
    json!({
        "productCode": product,
        "paymentRequestId": format!("pay-{}", backflow_engine::ids::random_token(12)),
        "paymentAmount": {"currency": currency, "value": value},
        "paymentMethod": {"paymentMethodType": method},
        "paymentFactor": {"isAuthorization": authorise},
    })
}

/// The `backflow` binary, to run as a user would.
pub fn backflow() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_backflow"))
}

/// Runs `backflow ARGS --data-dir DIR`, which must succeed; its standard output.
pub fn run_ok(args: &[&str], dir: &std::path::Path) -> String {
    let out = backflow()
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ------------------------------------------------------ notification receivers

/// The body that acknowledges an AMS notification.
pub const ACK: &str =
    r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}"#;

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// What a receiver answers.
#[derive(Clone)]
pub enum Reply {
    Status(u16, &'static str),
    /// Never answers (until the test ends).
    Hang,
    /// Waits for `release_all`, then acknowledges.
    Held,
    /// HTTP 200 with a body that never ends.
    Endless,
}

type Policy = Arc<dyn Fn(&Received, usize) -> Reply + Send + Sync>;

/// A merchant's notification endpoint on a random local port: it records
/// every request, on any path, and answers as its policy says.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<ReceiverState>,
}

struct ReceiverState {
    policy: Policy,
    received: Mutex<Vec<Received>>,
    /// Attempts per body (the body is the same on every attempt).
    seen: Mutex<HashMap<String, usize>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    release: tokio::sync::Semaphore,
}

impl Receiver {
    /// Answers the `nth` (1-based) attempt of each notification as `policy` says.
    pub async fn start(policy: impl Fn(&Received, usize) -> Reply + Send + Sync + 'static) -> Self {
        let inner = Arc::new(ReceiverState {
            policy: Arc::new(policy),
            received: Mutex::default(),
            seen: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            release: tokio::sync::Semaphore::new(0),
        });
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, inner }
    }

    /// Acknowledges every AMS notification at once.
    pub async fn acking() -> Self {
        Self::start(|_, _| Reply::Status(200, ACK)).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().expect("lock").clone()
    }

    pub fn count(&self) -> usize {
        self.inner.received.lock().expect("lock").len()
    }

    /// The most requests it was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn release_all(&self) {
        self.inner.release.add_permits(10_000);
    }
}

/// Decrements the in-flight count however the handler ends (a client timeout drops it).
struct InFlightGuard(Arc<ReceiverState>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn receive(State(state): State<Arc<ReceiverState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let received = Received {
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let nth = {
        let mut seen = state.seen.lock().expect("lock");
        let n = seen.entry(received.body.clone()).or_default();
        *n += 1;
        *n
    };
    state.received.lock().expect("lock").push(received.clone());
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlightGuard(state.clone());
    match (state.policy)(&received, nth) {
        Reply::Status(code, body) => {
            (StatusCode::from_u16(code).expect("status"), body.to_owned()).into_response()
        }
        Reply::Hang => std::future::pending().await,
        Reply::Held => {
            let _ = state.release.acquire().await.map(|p| p.forget());
            (StatusCode::OK, ACK).into_response()
        }
        Reply::Endless => {
            let chunk = Bytes::from(vec![b'x'; 16 * 1024]);
            let stream = futures::stream::repeat(Ok::<_, std::convert::Infallible>(chunk));
            (StatusCode::OK, Body::from_stream(stream)).into_response()
        }
    }
}

/// Fails the test, naming every breach, unless the ledger is sound.
pub async fn assert_ledger_sound(app: &TestApp) {
    let breaches = app
        .engine
        .store_for_tests()
        .check_ledger()
        .await
        .expect("check");
    assert!(
        breaches.is_empty(),
        "{:?}",
        breaches.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
}
