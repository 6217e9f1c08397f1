//! The refund path through the AMS door.

use crate::helpers::{assert_ledger_sound, code, on_both_backends, spawn_app, Backend};
use backflow_domain::{ClientId, PaymentId};
use futures::future::join_all;
use serde_json::json;
use std::collections::HashSet;

async fn partial_refunds_then_exceed_then_inquire(backend: Backend) {
    let app = spawn_app(backend).await;
    let payment = app.paid_payment("USD", "1000").await;
    let first = app.refund(&payment, "r-1", "USD", "300").await;
    assert_eq!(code(&first), ("SUCCESS", "S"), "{first}");
    assert_eq!(
        first["refundAmount"],
        json!({"currency": "USD", "value": "300"})
    );
    assert!(first["refundTime"].is_string());
    assert_eq!(
        code(&app.refund(&payment, "r-2", "USD", "700").await),
        ("SUCCESS", "S")
    );
    let over = app.refund(&payment, "r-3", "USD", "1").await;
    assert_eq!(code(&over), ("REFUND_AMOUNT_EXCEED", "F"));
    assert!(
        over.get("refundId").is_none(),
        "a refused refund has no id: {over}"
    );

    let by_id = app
        .call("inquiryRefund", json!({"refundId": first["refundId"]}))
        .await;
    assert_eq!(code(&by_id), ("SUCCESS", "S"));
    assert_eq!(by_id["refundStatus"], "SUCCESS");
    assert_eq!(by_id["refundRequestId"], "r-1");
    let by_request = app
        .call("inquiryRefund", json!({"refundRequestId": "r-2"}))
        .await;
    assert_eq!(by_request["refundAmount"]["value"], "700");
    let missing = app
        .call("inquiryRefund", json!({"refundRequestId": "nope"}))
        .await;
    assert_eq!(code(&missing), ("REFUND_NOT_EXIST", "F"));
    assert_ledger_sound(&app).await;
}
on_both_backends!(partial_refunds_then_exceed_then_inquire);

/// 1,000 concurrent one-unit refunds of a 100-unit payment: exactly 100 succeed.
async fn concurrent_refunds_never_over_refund(backend: Backend) {
    let app = spawn_app(backend).await;
    let payment = app.paid_payment("USD", "100").await;
    let requests: Vec<_> = (0..1000)
        .map(|i| {
            app.signed(
                "refund",
                &json!({
                    "refundRequestId": format!("c-{i}"),
                    "paymentId": payment,
                    "refundAmount": {"currency": "USD", "value": "1"},
                }),
            )
        })
        .collect();
    let answers = join_all(requests.iter().map(|r| app.send(r))).await;
    let succeeded = answers
        .iter()
        .filter(|a| code(a) == ("SUCCESS", "S"))
        .count();
    let exceeded = answers
        .iter()
        .filter(|a| code(a) == ("REFUND_AMOUNT_EXCEED", "F"))
        .count();
    assert_eq!((succeeded, exceeded), (100, 900));
    let details = app
        .engine
        .inquire_payment(
            &ClientId::parse(app.merchant.client_id.clone()).expect("id"),
            backflow_store::PaymentKey::Id(&PaymentId::parse(payment.clone()).expect("id")),
        )
        .await
        .expect("payment");
    assert_eq!(details.refunds.len(), 100);
    assert_ledger_sound(&app).await;
}
on_both_backends!(concurrent_refunds_never_over_refund);

/// 200 concurrent copies of one refund request: one refund, and every answer is that refund.
async fn concurrent_duplicates_make_one_refund(backend: Backend) {
    let app = spawn_app(backend).await;
    let payment = app.paid_payment("USD", "1000").await;
    let request = app.signed(
        "refund",
        &json!({"refundRequestId": "dup", "paymentId": payment, "refundAmount": {"currency": "USD", "value": "10"}}),
    );
    let answers = join_all((0..200).map(|_| app.send(&request))).await;
    let ids: HashSet<_> = answers
        .iter()
        .map(|a| a["refundId"].as_str().unwrap_or("none").to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(answers.iter().all(|a| code(a) == ("SUCCESS", "S")));
    let again = app.refund(&payment, "dup", "USD", "11").await;
    assert_eq!(code(&again), ("REPEAT_REQ_INCONSISTENT", "F"));
    let other_currency = app.refund(&payment, "dup", "SGD", "10").await;
    assert_eq!(code(&other_currency), ("REPEAT_REQ_INCONSISTENT", "F"));
    let refunds = app
        .engine
        .store_for_tests()
        .refunds_of(&PaymentId::parse(payment.clone()).expect("id"))
        .await
        .expect("refunds");
    assert_eq!(refunds.len(), 1);
}
on_both_backends!(concurrent_duplicates_make_one_refund);

/// One refund request id sent at once for two payments: one refund is made,
/// and the other request answers as a repeat of it, which names another
/// payment. On PostgreSQL the loser finds the request id taken as it inserts.
async fn one_request_id_raced_on_two_payments_makes_one_refund(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.paid_payment("USD", "1000").await;
    let second = app.paid_payment("USD", "1000").await;
    for round in 0..20 {
        let request = |payment: &str| {
            app.signed(
                "refund",
                &json!({"refundRequestId": format!("race-{round}"), "paymentId": payment, "refundAmount": {"currency": "USD", "value": "10"}}),
            )
        };
        let (a, b) = (request(&first), request(&second));
        let answers = join_all([app.send(&a), app.send(&b)]).await;
        let mut codes: Vec<_> = answers.iter().map(code).collect();
        codes.sort_unstable();
        assert_eq!(
            codes,
            [("REPEAT_REQ_INCONSISTENT", "F"), ("SUCCESS", "S")],
            "round {round}: {answers:?}"
        );
    }
}
on_both_backends!(one_request_id_raced_on_two_payments_makes_one_refund);

async fn refusals_name_the_first_broken_rule(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(
        code(
            &app.refund("20990101000000194000000000000000000", "x1", "USD", "1")
                .await
        ),
        ("ORDER_NOT_EXIST", "F")
    );
    let paid = app.paid_payment("USD", "1000").await;
    assert_eq!(
        code(&app.refund(&paid, "x2", "JPY", "1").await),
        ("CURRENCY_NOT_SUPPORT", "F")
    );
    assert_eq!(
        code(&app.refund(&paid, "x3", "XYZ", "1").await),
        ("CURRENCY_NOT_SUPPORT", "F")
    );
    // Cashier payment not paid yet, then cancelled.
    let unpaid = app
        .payment("GCASH", "CASHIER_PAYMENT", "USD", "500", false)
        .await;
    assert_eq!(
        code(&app.refund(&unpaid, "x4", "USD", "1").await),
        ("ORDER_STATUS_INVALID", "F")
    );
    assert_eq!(
        code(&app.call("cancel", json!({"paymentId": unpaid})).await),
        ("SUCCESS", "S")
    );
    assert_eq!(
        code(&app.refund(&unpaid, "x5", "USD", "1").await),
        ("ORDER_STATUS_INVALID", "F")
    );
    // Authorised card, not captured.
    let auth = app
        .payment("CARD", "CASHIER_PAYMENT", "USD", "500", true)
        .await;
    assert_eq!(
        code(&app.refund(&auth, "x6", "USD", "1").await),
        ("ORDER_STATUS_INVALID", "F")
    );
    // Another merchant's payment does not exist for this one.
    let other = app.another_merchant(true).await;
    let req = app.signed_as(
        &other,
        "refund",
        serde_json::to_vec(&json!({"refundRequestId": "x7", "paymentId": paid, "refundAmount": {"currency": "USD", "value": "1"}}))
            .expect("json"),
    );
    let (_, body) = app.send_raw(&req).await;
    assert_eq!(code(&body), ("ORDER_NOT_EXIST", "F"));
}
on_both_backends!(refusals_name_the_first_broken_rule);

async fn the_refund_window_closes_after_a_year(backend: Backend) {
    let app = spawn_app(backend).await;
    let payment = app.paid_payment("USD", "1000").await;
    app.clock.advance_days(365);
    assert_eq!(
        code(&app.refund(&payment, "w-1", "USD", "1").await),
        ("SUCCESS", "S")
    );
    app.clock.advance_days(1);
    assert_eq!(
        code(&app.refund(&payment, "w-2", "USD", "1").await),
        ("REFUND_WINDOW_EXCEED", "F")
    );
}
on_both_backends!(the_refund_window_closes_after_a_year);
