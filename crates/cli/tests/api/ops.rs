//! What an operator relies on: the version, shell completions, request ids in the logs.

use crate::helpers::{
    backflow, on_both_backends, pay_body, serve_with, spawn_app, Backend, TestMerchant,
};
use backflow::demo::MerchantCredentialsFile;
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn version_names_the_git_revision() {
    let out = backflow().arg("--version").output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    let rev = text
        .trim()
        .strip_suffix(')')
        .and_then(|t| t.rsplit_once('('))
        .map(|(_, rev)| rev)
        .unwrap_or_default();
    assert!(
        rev.len() == 12 && rev.bytes().all(|b| b.is_ascii_hexdigit()),
        "{text}"
    );
}

#[test]
fn completions_for_each_shell_name_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = backflow()
            .args(["completions", shell])
            .output()
            .expect("run");
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("merchant") && script.contains("serve"),
            "{shell}: {script}"
        );
    }
    let out = backflow()
        .args(["completions", "tcsh"])
        .output()
        .expect("run");
    assert!(!out.status.success());
}

/// A JSON-logging server: each request's id is echoed and is on its log lines,
/// and no key of the demo merchant appears in the logs of a busy run.
#[tokio::test]
async fn request_ids_are_echoed_and_logged_and_no_secret_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let server = serve_with(dir.path(), |c| {
        c.args(["--log-format", "json"])
            .env("RUST_LOG", "debug,sqlx=warn,hyper=warn,rustls=warn")
            .stderr(log);
    });
    let creds: MerchantCredentialsFile = serde_json::from_slice(
        &std::fs::read(dir.path().join("demo-merchant.json")).expect("credentials"),
    )
    .expect("json");
    let merchant = TestMerchant::from_credentials(creds.clone());
    backflow::tls::install_crypto_provider();
    let http = reqwest::Client::new();
    let base = format!("http://{}", server.addr);

    let echoed = http
        .get(format!("{base}/healthz"))
        .header("x-request-id", "ops-test-7f3a")
        .send()
        .await
        .expect("healthz");
    assert_eq!(echoed.headers()["x-request-id"], "ops-test-7f3a");
    let made = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    let made = made.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(made.len(), 36, "a UUID: {made}");

    let mut signatures = Vec::new();
    let mut send = |op: &str, body: Value| {
        let req = merchant.signed(op, serde_json::to_vec(&body).expect("json"));
        let signature = req.headers.iter().find(|(k, _)| k == "Signature");
        signatures.push(signature.expect("signed").1.clone());
        req.post(&http, &base)
            .header("x-request-id", format!("ops-{op}"))
    };
    let paid: Value = send(
        "pay",
        pay_body("GCASH", "AGREEMENT_PAYMENT", "USD", "1000", false),
    )
    .send()
    .await
    .expect("pay")
    .json()
    .await
    .expect("json");
    let payment_id = paid["paymentId"].as_str().expect("paymentId").to_owned();
    for n in 0..20 {
        let answer: Value = send(
            "refund",
            json!({
                "refundRequestId": format!("ops-refund-{n}"),
                "paymentId": payment_id,
                "refundAmount": {"currency": "USD", "value": "1"},
            }),
        )
        .send()
        .await
        .expect("refund")
        .json()
        .await
        .expect("json");
        assert_eq!(answer["result"]["resultStatus"], "S", "{answer}");
    }
    let status = server.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}");

    let logs = std::fs::read_to_string(&log_path).expect("logs");
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let with_id = |id: &str| {
        lines
            .iter()
            .filter(|l| l["span"]["request_id"] == id)
            .count()
    };
    assert!(with_id("ops-test-7f3a") > 0, "{logs}");
    assert!(with_id(&made) > 0, "{logs}");
    assert!(with_id("ops-refund") > 0, "{logs}");
    let secrets = [
        Some(creds.legacy_md5_key.as_str()),
        creds.merchant_private_key_pkcs1.as_deref(),
        creds.merchant_private_key_pkcs8.as_deref(),
    ];
    for secret in secrets.into_iter().flatten() {
        // A key's body, without PEM armour or line breaks, is what a leak would show.
        let body: String = secret.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(
            !logs.contains(&body[..body.len().min(48)]),
            "a key is in the logs"
        );
    }
    for signature in &signatures {
        assert!(
            !logs.contains(signature.as_str()),
            "a signature is in the logs"
        );
    }
}

/// `/metrics` counts the refunds a merchant made, by result code, and shows the
/// refunds and notifications waiting.
#[tokio::test]
async fn metrics_count_refunds_by_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve_with(dir.path(), |_| {});
    let creds: MerchantCredentialsFile = serde_json::from_slice(
        &std::fs::read(dir.path().join("demo-merchant.json")).expect("credentials"),
    )
    .expect("json");
    let merchant = TestMerchant::from_credentials(creds);
    backflow::tls::install_crypto_provider();
    let http = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    let call = |op: &str, body: Value| {
        let req = merchant.signed(op, serde_json::to_vec(&body).expect("json"));
        let sent = req.post(&http, &base);
        async move {
            let answer: Value = sent.send().await.expect("send").json().await.expect("json");
            answer
        }
    };
    let paid = call(
        "pay",
        pay_body("GCASH", "AGREEMENT_PAYMENT", "USD", "500", false),
    )
    .await;
    let payment_id = paid["paymentId"].as_str().expect("paymentId").to_owned();
    for (n, value) in ["100", "100", "100", "900"].iter().enumerate() {
        call(
            "refund",
            json!({
                "refundRequestId": format!("metrics-{n}"),
                "paymentId": payment_id,
                "refundAmount": {"currency": "USD", "value": value},
            }),
        )
        .await;
    }
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let sample = |name: &str, labels: &[&str]| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name) && labels.iter().all(|want| l.contains(want)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let refunds = ["operation=\"refund\"", "door=\"ams\""];
    assert_eq!(
        sample(
            "backflow_api_requests_total",
            &[refunds[0], refunds[1], "code=\"SUCCESS\""]
        ),
        3.0,
        "{text}"
    );
    assert_eq!(
        sample(
            "backflow_api_requests_total",
            &[refunds[0], "code=\"REFUND_AMOUNT_EXCEED\"", "status=\"F\""]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample("backflow_api_request_seconds_count", &refunds),
        4.0,
        "{text}"
    );
    assert_eq!(
        sample("backflow_refunds", &["status=\"SUCCESS\""]),
        3.0,
        "{text}"
    );
    assert!(text.contains("backflow_jobs_due"), "{text}");
    let post = http
        .post(format!("{base}/metrics"))
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), 405, "/metrics is read-only");
}

/// The gauges' queries on each database: a refund in process and its due job
/// show, and the job counts as late a minute after its time.
async fn gauges_read_waiting_work(backend: Backend) {
    let app = spawn_app(backend).await;
    let payment = app.paid_payment("USD", "100").await;
    let merchant = backflow_domain::ClientId::parse(&app.merchant.client_id).expect("id");
    app.engine
        .script_sandbox_refund(&merchant, "REFUND_IN_PROCESS;delay=30")
        .await
        .expect("script");
    let answer = app.refund(&payment, "r-1", "USD", "10").await;
    assert_eq!(
        answer["result"]["resultCode"], "REFUND_IN_PROCESS",
        "{answer}"
    );
    let g = app.engine.gauges().await.expect("gauges");
    assert_eq!(g.refunds_by_status, vec![("PROCESSING".to_owned(), 1)]);
    assert_eq!((g.jobs_due, g.jobs_late), (0, 0), "not due for 30 s");
    app.clock.advance_millis(31_000);
    let g = app.engine.gauges().await.expect("gauges");
    assert_eq!((g.jobs_due, g.jobs_late), (1, 0));
    app.clock.advance_millis(backflow_store::LATE_AFTER_MS);
    let g = app.engine.gauges().await.expect("gauges");
    assert_eq!((g.jobs_due, g.jobs_late), (1, 1));
    assert_eq!(g.pool.is_some(), backend == Backend::Postgres);
}
on_both_backends!(gauges_read_waiting_work);
