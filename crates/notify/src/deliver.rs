//! One attempt: check the address, sign, POST with a timeout, read a bounded
//! answer and decide whether the merchant acknowledged it.

use crate::guard::{PublicOnlyResolver, SharedResolver, SystemResolver};
use crate::{NotifierConfig, NotifyError};
use backflow_crypto::ams::{signature_header, signed_content};
use backflow_domain::payment::Door;
use backflow_domain::{ClientId, ResultStatus, Timestamp};
use backflow_engine::notices::check_notify_url;
use backflow_engine::Engine;
use backflow_store::NotificationRow;
use std::sync::Arc;
use std::time::Instant;

/// How much of an answer the delivery log keeps.
pub const EXCERPT_BYTES: usize = 1024;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub acknowledged: bool,
    pub http_status: Option<u16>,
    pub latency_ms: Option<i64>,
    pub response_excerpt: Option<String>,
    /// Why the attempt missed; `None` when acknowledged.
    pub error: Option<String>,
}

impl Outcome {
    fn failed(error: impl Into<String>) -> Self {
        Self {
            acknowledged: false,
            http_status: None,
            latency_ms: None,
            response_excerpt: None,
            error: Some(error.into()),
        }
    }
}

/// The HTTP side of the notifier: one client that reaches only public
/// addresses, one for sandbox merchants that may notify their own machines.
pub struct Sender {
    public: reqwest::Client,
    sandbox: reqwest::Client,
    response_limit_bytes: usize,
}

impl Sender {
    pub fn new(config: &NotifierConfig) -> Result<Self, NotifyError> {
        Self::with_resolver(config, SharedResolver(Arc::new(SystemResolver)))
    }

    /// Both clients resolve names through `resolver`; the public one keeps only public answers.
    fn with_resolver(
        config: &NotifierConfig,
        resolver: SharedResolver,
    ) -> Result<Self, NotifyError> {
        // reqwest is built without a default TLS provider; the process uses aws-lc-rs.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = |public_only: bool| {
            let builder = reqwest::Client::builder()
                .timeout(config.post_timeout)
                .connect_timeout(config.post_timeout)
                // A redirect could name a private address the resolver never sees.
                .redirect(reqwest::redirect::Policy::none())
                // A proxy would resolve names itself, past the guard.
                .no_proxy()
                .user_agent(concat!("Backflow-Notifier/", env!("CARGO_PKG_VERSION")))
                .pool_max_idle_per_host(config.max_in_flight_per_merchant);
            let builder = if public_only {
                builder.dns_resolver(Arc::new(PublicOnlyResolver(resolver.clone())))
            } else {
                builder.dns_resolver(Arc::new(resolver.clone()))
            };
            builder.build().map_err(NotifyError::HttpClient)
        };
        Ok(Self {
            public: client(true)?,
            sandbox: client(false)?,
            response_limit_bytes: config.response_limit_bytes,
        })
    }

    /// Makes one attempt at delivering `row`, signed at `now`.
    pub async fn attempt(&self, engine: &Engine, row: &NotificationRow, now: Timestamp) -> Outcome {
        let url = match check_notify_url(&row.url, &row.client_id) {
            Ok(url) => url,
            Err(e) => return Outcome::failed(format!("refused by the SSRF guard: {e}")),
        };
        let client = self.client_for(&row.client_id);
        let request = match row.protocol {
            Door::Ams => {
                let credentials = match engine.keys().merchant(&row.client_id).await {
                    Ok(c) => c,
                    Err(e) => return Outcome::failed(format!("cannot sign: {e}")),
                };
                // A fresh request-time on every attempt; the body never changes.
                let time = now.to_iso8601();
                let content = signed_content(
                    "POST",
                    url.path(),
                    row.client_id.as_str(),
                    &time,
                    row.body.as_bytes(),
                );
                let signature = match credentials.platform.sign_sha256(&content) {
                    Ok(s) => s,
                    Err(e) => return Outcome::failed(format!("cannot sign: {e}")),
                };
                client
                    .post(url)
                    .header("content-type", "application/json; charset=UTF-8")
                    .header("client-id", row.client_id.as_str())
                    .header("request-time", time)
                    .header("signature", signature_header(1, &signature))
            }
            // Legacy bodies carry their own signature.
            Door::Legacy => client.post(url).header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
        };
        let started = Instant::now();
        let outcome = self
            .send(request.body(row.body.clone()), row.protocol)
            .await;
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        Outcome {
            latency_ms: Some(latency_ms),
            ..outcome
        }
    }

    /// Sandbox merchants may notify their own machines; everyone else reaches public addresses only.
    fn client_for(&self, merchant: &ClientId) -> &reqwest::Client {
        if merchant.is_sandbox() {
            &self.sandbox
        } else {
            &self.public
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder, protocol: Door) -> Outcome {
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Outcome::failed(describe(&e)),
        };
        let status = response.status().as_u16();
        let mut body = Vec::new();
        let mut over_limit = false;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = self.response_limit_bytes - body.len();
                    if chunk.len() > room {
                        body.extend_from_slice(&chunk[..room]);
                        over_limit = true;
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Outcome {
                        http_status: Some(status),
                        response_excerpt: Some(excerpt(&body)),
                        ..Outcome::failed(describe(&e))
                    }
                }
            }
        }
        let verdict = if over_limit {
            Err(format!(
                "the answer is longer than {} bytes",
                self.response_limit_bytes
            ))
        } else {
            acknowledgement(protocol, status, &body)
        };
        Outcome {
            acknowledged: verdict.is_ok(),
            http_status: Some(status),
            latency_ms: None,
            response_excerpt: Some(excerpt(&body)),
            error: verdict.err(),
        }
    }
}

/// Whether an answer acknowledges the notification; the reason when it does not.
/// AMS: HTTP 200 and `result.resultStatus` `S`. Legacy: the body `success`.
pub fn acknowledgement(protocol: Door, status: u16, body: &[u8]) -> Result<(), String> {
    match protocol {
        Door::Ams => {
            if status != 200 {
                return Err(format!("HTTP {status}"));
            }
            let json: serde_json::Value =
                serde_json::from_slice(body).map_err(|_| "the answer is not JSON".to_owned())?;
            match json["result"]["resultStatus"].as_str() {
                Some(s) if s == ResultStatus::S.as_str() => Ok(()),
                Some(other) => Err(format!("result.resultStatus is {other:?}")),
                None => Err("the answer has no result.resultStatus".to_owned()),
            }
        }
        Door::Legacy => {
            if String::from_utf8_lossy(body).trim() == "success" {
                Ok(())
            } else {
                Err(format!("HTTP {status}, and the answer is not \"success\""))
            }
        }
    }
}

/// The first bytes of an answer, as text.
fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(EXCERPT_BYTES)]).into_owned()
}

/// An HTTP error with its causes, which carry the useful part (refused, timed out, reset).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ams_acknowledgement_needs_200_and_status_s() {
        let ok =
            br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}"#;
        assert_eq!(acknowledgement(Door::Ams, 200, ok), Ok(()));
        assert!(acknowledgement(Door::Ams, 201, ok).is_err());
        assert!(acknowledgement(Door::Ams, 500, ok).is_err());
        let f = br#"{"result":{"resultCode":"PROCESS_FAIL","resultStatus":"F"}}"#;
        assert!(acknowledgement(Door::Ams, 200, f).is_err());
        assert!(acknowledgement(Door::Ams, 200, b"success").is_err());
        assert!(acknowledgement(Door::Ams, 200, b"{}").is_err());
    }

    #[test]
    fn legacy_acknowledgement_is_the_body_success() {
        assert_eq!(acknowledgement(Door::Legacy, 200, b"success"), Ok(()));
        assert_eq!(acknowledgement(Door::Legacy, 200, b" success\r\n"), Ok(()));
        assert!(acknowledgement(Door::Legacy, 200, b"fail").is_err());
        assert!(acknowledgement(Door::Legacy, 200, b"").is_err());
        assert!(acknowledgement(Door::Legacy, 200, b"SUCCESS!").is_err());
    }

    /// A name that resolves to loopback, as a rebinding attacker's DNS would answer.
    struct Rebinding;

    impl reqwest::dns::Resolve for Rebinding {
        fn resolve(&self, _: reqwest::dns::Name) -> reqwest::dns::Resolving {
            Box::pin(async {
                let addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
                Ok(Box::new(std::iter::once(addr)) as reqwest::dns::Addrs)
            })
        }
    }

    #[tokio::test]
    async fn live_merchants_never_connect_to_names_resolving_to_private_addresses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nsuccess")
                        .await;
                });
            }
        });
        let sender = Sender::with_resolver(
            &NotifierConfig::default(),
            SharedResolver(Arc::new(Rebinding)),
        )
        .unwrap();
        let url = format!("http://rebind.example:{port}/notify");
        let live = ClientId::parse("SHOP").unwrap();
        let err = sender
            .client_for(&live)
            .post(&url)
            .send()
            .await
            .unwrap_err();
        assert!(describe(&err).contains("SSRF"), "{}", describe(&err));
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0);
        // The same name works for a sandbox merchant: the refusal came from the guard.
        let sandbox = ClientId::parse("SANDBOX_SHOP").unwrap();
        let answer = sender.client_for(&sandbox).post(&url).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn excerpts_stop_at_one_kilobyte() {
        assert_eq!(excerpt(&[b'a'; 5000]).len(), EXCERPT_BYTES);
        assert_eq!(excerpt(b"short"), "short");
    }
}
