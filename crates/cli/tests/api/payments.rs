//! Sandbox payments: wallets, the cashier checkout page, card authorisation and capture.

use crate::helpers::{assert_ledger_sound, code, on_both_backends, spawn_app, Backend};
use serde_json::json;

async fn cards_refund_only_what_was_captured(backend: Backend) {
    let app = spawn_app(backend).await;
    let payment = app
        .payment("CARD", "CASHIER_PAYMENT", "USD", "1000", true)
        .await;
    let capture = |id: &str, value: &str, last: bool| json!({"captureRequestId": id, "paymentId": payment, "captureAmount": {"currency": "USD", "value": value}, "isLastCapture": last});
    let c1 = app.call("capture", capture("c1", "400", false)).await;
    assert_eq!(code(&c1), ("SUCCESS", "S"), "{c1}");
    assert_eq!(
        code(&app.call("capture", capture("c1", "400", false)).await),
        ("SUCCESS", "S")
    );
    assert_eq!(
        code(&app.call("capture", capture("c1", "401", false)).await),
        ("REPEAT_REQ_INCONSISTENT", "F")
    );
    assert_eq!(
        code(&app.call("capture", capture("c2", "601", false)).await),
        ("CAPTURE_AMOUNT_EXCEED", "F")
    );
    assert_eq!(
        code(&app.refund(&payment, "r1", "USD", "401").await),
        ("REFUND_AMOUNT_EXCEED", "F")
    );
    assert_eq!(
        code(&app.refund(&payment, "r1", "USD", "400").await).1,
        "U",
        "card refunds are async by default"
    );
    assert_eq!(
        code(&app.call("capture", capture("c3", "100", true)).await),
        ("SUCCESS", "S")
    );
    assert_eq!(
        code(&app.call("capture", capture("c4", "100", false)).await),
        ("ORDER_STATUS_INVALID", "F")
    );
    let inquiry = app
        .call("inquiryPayment", json!({"paymentId": payment}))
        .await;
    assert_eq!(inquiry["paymentStatus"], "SUCCESS");
    let kinds: Vec<_> = inquiry["transactions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|t| t["transactionType"].clone())
        .collect();
    assert_eq!(
        kinds,
        vec![
            json!("AUTHORIZATION"),
            json!("CAPTURE"),
            json!("CAPTURE"),
            json!("REFUND")
        ]
    );
    assert_ledger_sound(&app).await;
}
on_both_backends!(cards_refund_only_what_was_captured);

#[tokio::test]
async fn cashier_payments_complete_on_the_checkout_page() {
    let app = spawn_app(Backend::Sqlite).await;
    // One pay request, sent again later; only its amount may change.
    let cashier_pay = |value: &str| {
        json!({
            "productCode": "CASHIER_PAYMENT",
            "paymentRequestId": "cashier-1",
            "paymentAmount": {"currency": "USD", "value": value},
            "paymentMethod": {"paymentMethodType": "ALIPAY_HK"},
            "env": {"terminalType": "WEB"},
        })
    };
    let body = app.call("pay", cashier_pay("250")).await;
    assert_eq!(code(&body), ("PAYMENT_IN_PROCESS", "U"));
    let url = body["normalUrl"].as_str().expect("normalUrl");
    assert!(
        url.starts_with(&format!("http://{}/sandbox/checkout/", app.addr)),
        "{url}"
    );
    let page = app
        .http
        .get(url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(page.contains("<button id=\"pay\""), "{page}");
    let paid = app
        .http
        .post(url)
        .send()
        .await
        .expect("pay")
        .text()
        .await
        .expect("text");
    assert!(paid.contains("Status: SUCCESS"), "{paid}");
    let payment = body["paymentId"].as_str().expect("id");
    assert_eq!(
        code(&app.refund(payment, "after-checkout", "USD", "250").await),
        ("SUCCESS", "S")
    );
    // Repeating the pay request answers with the payment as it stands now.
    let again = app.call("pay", cashier_pay("250")).await;
    assert_eq!(
        (code(&again), again["paymentId"].as_str()),
        (("SUCCESS", "S"), Some(payment))
    );
    let inconsistent = app.call("pay", cashier_pay("251")).await;
    assert_eq!(code(&inconsistent), ("REPEAT_REQ_INCONSISTENT", "F"));
}

/// Identical `pay` requests sent at once race past the request-id lookup:
/// one payment is made, one balance credit, and every answer names it.
async fn one_pay_request_id_raced_makes_one_payment(backend: Backend) {
    let app = spawn_app(backend).await;
    let balance = || async {
        let client = backflow_domain::ClientId::parse(&app.merchant.client_id).expect("id");
        let rows = app
            .engine
            .merchant_balances(&client)
            .await
            .expect("balances");
        rows.iter()
            .map(|r| (r.account.clone(), r.currency.clone(), r.balance))
            .collect::<Vec<_>>()
    };
    let before = balance().await;
    let body = crate::helpers::pay_body("GCASH", "AGREEMENT_PAYMENT", "USD", "700", false);
    let answers = futures::future::join_all((0..8).map(|_| app.call("pay", body.clone()))).await;
    let ids: std::collections::BTreeSet<_> = answers
        .iter()
        .map(|a| {
            assert_eq!(code(a).1, "S", "{a}");
            a["paymentId"].as_str().expect("paymentId").to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    let raced = balance().await;
    app.paid_payment("USD", "700").await;
    let once = balance().await;
    // The race moved the books exactly as much as one more payment does.
    let moved = |from: &[(String, String, i64)], to: &[(String, String, i64)]| {
        to.iter()
            .map(|(a, c, b)| {
                let was = from
                    .iter()
                    .find(|f| &f.0 == a && &f.1 == c)
                    .map_or(0, |f| f.2);
                (a.clone(), c.clone(), b - was)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(moved(&before, &raced), moved(&raced, &once));
    assert_ledger_sound(&app).await;
}
on_both_backends!(one_pay_request_id_raced_makes_one_payment);
