//! Bad input gets its documented result, never a panic.

use crate::helpers::{code, pay_body, spawn_app, spawn_app_with_writer, Backend, Signed};
use backflow_store::WriterSettings;
use serde_json::json;

#[tokio::test]
async fn malformed_bodies_are_param_illegal() {
    let app = spawn_app(Backend::Sqlite).await;
    for body in [
        b"{not json".to_vec(),
        b"[]".to_vec(),
        br#"{"paymentId": "p"}"#.to_vec(),
        br#"{"refundRequestId": 5, "paymentId": "p", "refundAmount": {"currency": "USD", "value": "1"}}"#.to_vec(),
        br#"{"refundRequestId": "r", "paymentId": "p", "refundAmount": {"currency": "USD", "value": "-1"}}"#.to_vec(),
        br#"{"refundRequestId": "r", "paymentId": "p", "refundAmount": {"currency": "USD", "value": "0"}}"#.to_vec(),
        br#"{"refundRequestId": "r", "paymentId": "p", "refundAmount": {"currency": "usd", "value": "1"}}"#.to_vec(),
        br#"{"refundRequestId": "r", "paymentId": "p", "refundAmount": {"currency": "USD", "value": "1.5"}}"#.to_vec(),
        format!(r#"{{"refundRequestId": "{}", "paymentId": "p", "refundAmount": {{"currency": "USD", "value": "1"}}}}"#, "r".repeat(65)).into_bytes(),
        format!(r#"{{"refundRequestId": "r", "paymentId": "p", "refundReason": "{}", "refundAmount": {{"currency": "USD", "value": "1"}}}}"#, "x".repeat(257)).into_bytes(),
        br#"{"refundRequestId": "r", "paymentId": "p", "refundNotifyUrl": "ftp://x", "refundAmount": {"currency": "USD", "value": "1"}}"#.to_vec(),
        br#"{"refundRequestId": "r", "paymentId": "p", "refundNotifyUrl": "https://user:pw@example.com/n", "refundAmount": {"currency": "USD", "value": "1"}}"#.to_vec(),
    ] {
        let req = app.signed_as(&app.merchant, "refund", body.clone());
        let (status, answer) = app.send_raw(&req).await;
        assert_eq!(status, 200);
        assert_eq!(code(&answer), ("PARAM_ILLEGAL", "F"), "{}", String::from_utf8_lossy(&body));
    }
    let inquiry = app.call("inquiryRefund", json!({})).await;
    assert_eq!(code(&inquiry), ("PARAM_ILLEGAL", "F"));
}

#[tokio::test]
async fn a_wrong_signature_is_invalid_signature() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = json!({"refundRequestId": "r", "paymentId": "p", "refundAmount": {"currency": "USD", "value": "1"}});
    // Signed over one body, sent with another.
    let mut req = app.signed("refund", &body);
    req.body = serde_json::to_vec(&json!({"refundRequestId": "r2"})).expect("json");
    assert_eq!(code(&app.send(&req).await), ("INVALID_SIGNATURE", "F"));
    // Signed by a different key.
    let stranger = app.another_merchant(true).await;
    let mut req = app.signed("refund", &body);
    let forged = app.signed_as(&stranger, "refund", req.body.clone());
    req.headers[3].1 = forged.headers[3].1.clone();
    assert_eq!(code(&app.send(&req).await), ("INVALID_SIGNATURE", "F"));
    // Garbage and missing signature headers.
    for value in [
        "algorithm=RSA256,keyVersion=1,signature=%%%",
        "algorithm=RSA256,keyVersion=1",
        "nonsense",
    ] {
        let mut req = app.signed("refund", &body);
        req.headers[3].1 = value.into();
        assert_eq!(
            code(&app.send(&req).await),
            ("INVALID_SIGNATURE", "F"),
            "{value}"
        );
    }
    let mut req = app.signed("refund", &body);
    req.headers.remove(3);
    assert_eq!(code(&app.send(&req).await), ("INVALID_SIGNATURE", "F"));
}

#[tokio::test]
async fn unknown_clients_and_key_versions_are_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = json!({"refundRequestId": "r", "paymentId": "p", "refundAmount": {"currency": "USD", "value": "1"}});
    let mut req = app.signed("refund", &body);
    req.headers[1].1 = "SANDBOX_NOBODY".into();
    let (status, answer) = app.send_raw(&req).await;
    assert_eq!((status, code(&answer)), (200, ("INVALID_CLIENT", "F")));
    let mut req = app.signed("refund", &body);
    req.headers[3].1 = req.headers[3].1.replace("keyVersion=1", "keyVersion=7");
    assert_eq!(code(&app.send(&req).await), ("KEY_NOT_FOUND", "F"));
    let mut req = app.signed("refund", &body);
    req.headers.remove(1);
    let (_, answer) = app.send_raw(&req).await;
    assert_eq!(code(&answer), ("INVALID_CLIENT", "F"));
}

#[tokio::test]
async fn a_two_megabyte_body_gets_413() {
    let app = spawn_app(Backend::Sqlite).await;
    let req: Signed = app.signed_as(&app.merchant, "refund", vec![b' '; 2 * 1024 * 1024]);
    let (status, answer) = app.send_raw(&req).await;
    assert_eq!(status, 413);
    assert_eq!(code(&answer), ("PARAM_ILLEGAL", "F"));
    // The server is still there.
    assert_eq!(
        code(&app.call("inquiryRefund", json!({"refundId": "x"})).await),
        ("REFUND_NOT_EXIST", "F")
    );
}

#[tokio::test]
async fn unknown_operations_are_not_defined() {
    let app = spawn_app(Backend::Sqlite).await;
    assert_eq!(
        code(&app.call("consult", json!({})).await),
        ("NO_INTERFACE_DEF", "F")
    );
}

#[tokio::test]
async fn signatures_tolerate_sdk_variants() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = json!({"refundId": "x"});
    // Spaces after commas (as the documentation shows) and lower-case escapes (.NET).
    let mut req = app.signed("inquiryRefund", &body);
    req.headers[3].1 = req.headers[3]
        .1
        .replace(',', ", ")
        .replace("%2B", "%2b")
        .replace("%2F", "%2f")
        .replace("%3D", "%3d");
    assert_eq!(code(&app.send(&req).await), ("REFUND_NOT_EXIST", "F"));
    // The production prefix works too, signed with its own path.
    let path = "/ams/api/v1/payments/inquiryRefund".to_owned();
    let raw = serde_json::to_vec(&body).expect("json");
    let sig = app.merchant.sign(&path, "1700000000000", &raw);
    let req = Signed {
        headers: vec![
            ("client-id".into(), app.merchant.client_id.clone()),
            ("request-time".into(), "1700000000000".into()),
            ("signature".into(), sig),
        ],
        path,
        body: raw,
    };
    assert_eq!(code(&app.send(&req).await), ("REFUND_NOT_EXIST", "F"));
}

/// Outside the sandbox a notification address may not target this machine or a private network.
#[tokio::test]
async fn private_notify_urls_are_refused_for_production_merchants() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = |url: &str| {
        serde_json::to_vec(&json!({
            "refundRequestId": "r", "paymentId": "p", "refundNotifyUrl": url,
            "refundAmount": {"currency": "USD", "value": "1"}
        }))
        .expect("json")
    };
    let production = app.another_merchant(false).await;
    for url in [
        "http://127.0.0.1:9/notify",
        "http://10.1.2.3/n",
        "http://[::1]/n",
        "http://169.254.169.254/latest",
    ] {
        let (_, answer) = app
            .send_raw(&app.signed_as(&production, "refund", body(url)))
            .await;
        assert_eq!(code(&answer), ("PARAM_ILLEGAL", "F"), "{url}");
    }
    // A public address passes the check (and the unknown payment is what is refused).
    let (_, answer) = app
        .send_raw(&app.signed_as(
            &production,
            "refund",
            body("https://merchant.example.com/notify"),
        ))
        .await;
    assert_eq!(code(&answer), ("ORDER_NOT_EXIST", "F"));
    // Sandbox merchants may notify their own machine.
    let (_, answer) = app
        .send_raw(&app.signed_as(&app.merchant, "refund", body("http://127.0.0.1:9/notify")))
        .await;
    assert_eq!(code(&answer), ("ORDER_NOT_EXIST", "F"));
}

/// Sends `request` until it is not refused as busy: with no room to wait for
/// the writer, the server's own background writes (the scheduler) refuse a
/// request now and then, as the answer asks, it is sent again.
async fn past_busy<F, Fut>(mut request: F) -> serde_json::Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = serde_json::Value>,
{
    loop {
        let answer = request().await;
        if code(&answer) != ("UNKNOWN_EXCEPTION", "U") {
            return answer;
        }
        tokio::task::yield_now().await;
    }
}

/// With the queue for SQLite's writer full (here it lets nobody wait), a
/// refund is refused at once with a signed `U` and writes nothing: sent again
/// once the writer is free, the same request makes the refund.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_writer_queue_sheds_refunds_with_a_signed_u() {
    let app = spawn_app_with_writer(Backend::Sqlite, WriterSettings { queue: 0 }).await;
    let pay = app.signed(
        "pay",
        &pay_body("GCASH", "AGREEMENT_PAYMENT", "USD", "1000", false),
    );
    let paid = past_busy(|| app.send(&pay)).await;
    let payment = paid["paymentId"].as_str().expect("paid").to_owned();

    let held = app.hold_writer().await;
    // `send` checks the answer's signature.
    let refused = app.refund(&payment, "shed-1", "USD", "100").await;
    assert_eq!(code(&refused), ("UNKNOWN_EXCEPTION", "U"), "{refused}");
    drop(held);

    let inquiry = json!({"refundRequestId": "shed-1"});
    let none = past_busy(|| app.call("inquiryRefund", inquiry.clone())).await;
    assert_eq!(
        code(&none),
        ("REFUND_NOT_EXIST", "F"),
        "nothing was written: {none}"
    );
    let made = past_busy(|| app.refund(&payment, "shed-1", "USD", "100")).await;
    assert_eq!(code(&made), ("SUCCESS", "S"), "{made}");
}
