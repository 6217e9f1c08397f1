//! `spawn_app()`: a real Backflow on a random port, against a fresh database.

use backflow::demo::MerchantCredentialsFile;
use backflow::storage::StorageArgs;
use backflow::{Application, ServeConfig};
use backflow_crypto::ams::{parse_signature_header, signature_header, signed_content};
use backflow_crypto::{decode_pem_body, SigningKey, VerifyingKey};
use backflow_domain::Timestamp;
use backflow_engine::clock::ManualClock;
use backflow_engine::{Engine, MerchantSpec};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;

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
async fn fresh_postgres_database() -> String {
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
    /// The app's notifier; no background loop runs, tests step it with `dispatch_due`.
    pub notifier: backflow_notify::Notifier,
    /// The PostgreSQL database's URL; `None` on SQLite (DATA_DIR/backflow.db).
    pub database_url: Option<String>,
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
    spawn_app_with(backend, |_| backflow_engine::EngineSettings::default()).await
}

/// [`spawn_app`] with engine settings made for its data directory.
pub async fn spawn_app_with(
    backend: Backend,
    settings: impl FnOnce(&std::path::Path) -> backflow_engine::EngineSettings,
) -> TestApp {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_database().await),
    };
    // A fixed, recent start so windows and ids are deterministic; tests move it.
    let clock = Arc::new(ManualClock::new(Timestamp(1_795_000_000_000)));
    let app = Application::build(ServeConfig {
        storage: StorageArgs {
            data_dir: data_dir.path().to_path_buf(),
            database_url: database_url.clone(),
        },
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        https_addr: Some("127.0.0.1:0".parse().expect("addr")),
        tls: None,
        clock: clock.clone(),
        settings: settings(data_dir.path()),
        admin_token: ADMIN_TOKEN.into(),
    })
    .await
    .expect("build app")
    .with_notifier_config(test_notifier_config())
    .expect("notifier config");
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
        notifier,
        database_url,
    }
}

impl TestApp {
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

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `backflow serve` on `data_dir` (SQLite there), on free ports.
pub fn serve(data_dir: &std::path::Path) -> Server {
    use std::io::BufRead;
    let mut child = backflow()
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
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn backflow serve");
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
