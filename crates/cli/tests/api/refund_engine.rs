//! The refund engine through the AMS door: every refund-path code with its
//! status, FX settlement, commission, async completion, reversals, the ledger.

use crate::helpers::{assert_ledger_sound, code, on_both_backends, spawn_app, Backend, TestApp};
use backflow_domain::ledger::PostingKind;
use backflow_domain::merchant::{CommissionRefund, Contract};
use backflow_domain::method::MethodOverride;
use backflow_domain::{ClientId, Currency, Money};
use backflow_store::{NotificationFilter, NotificationKind, NotificationRow};
use serde_json::{json, Value};

fn client(app: &TestApp) -> ClientId {
    ClientId::parse(app.merchant.client_id.clone()).expect("client id")
}

async fn set_contract(app: &TestApp, settlement: Option<&str>, contract: Contract) {
    let currency = settlement.map(|c| Currency::parse(c).expect("currency"));
    app.engine
        .set_contract(&client(app), currency, &contract)
        .await
        .expect("contract");
}

async fn script(app: &TestApp, script: &str) {
    app.engine
        .script_sandbox_refund(&client(app), script)
        .await
        .expect("script");
}

async fn balance(app: &TestApp, book: &str, currency: &str) -> i64 {
    let rows = app
        .engine
        .merchant_balances(&client(app))
        .await
        .expect("balances");
    rows.iter()
        .find(|r| r.account.ends_with(book) && r.currency == currency)
        .map_or(0, |r| r.balance)
}

async fn inquire(app: &TestApp, refund: &Value) -> Value {
    app.call("inquiryRefund", json!({"refundId": refund["refundId"]}))
        .await
}

/// Every refund-path result code (docs/wire.md#result-codes), produced through the public API, with its status.
async fn every_refund_code_with_its_status(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut note = |v: &Value| {
        let (c, s) = code(v);
        seen.push((c.to_owned(), s.to_owned()));
    };

    // S: a wallet refund.
    let paid = app.paid_payment("USD", "10000").await;
    note(&app.refund(&paid, "ok", "USD", "100").await);
    // U REFUND_IN_PROCESS: bank transfer is asynchronous.
    let bank = app
        .payment("BANK_TRANSFER", "AGREEMENT_PAYMENT", "USD", "500", false)
        .await;
    note(&app.refund(&bank, "bank-1", "USD", "500").await);
    // F MULTIPLE_REFUNDS_NOT_SUPPORTED and PARTIAL_REFUND_NOT_SUPPORTED: bank transfer policy.
    note(&app.refund(&bank, "bank-2", "USD", "500").await);
    let bank2 = app
        .payment("BANK_TRANSFER", "AGREEMENT_PAYMENT", "USD", "500", false)
        .await;
    note(&app.refund(&bank2, "bank-3", "USD", "100").await);
    // U UNKNOWN_EXCEPTION: a channel timeout, scripted.
    script(&app, "UNKNOWN_EXCEPTION;delay=30").await;
    let timed_out = app.refund(&paid, "timeout", "USD", "100").await;
    note(&timed_out);
    // U REQUEST_TRAFFIC_EXCEED_LIMIT, scripted, then by the contract's real limit.
    script(&app, "REQUEST_TRAFFIC_EXCEED_LIMIT").await;
    note(&app.refund(&paid, "traffic", "USD", "100").await);
    // F from the rules.
    note(&app.refund(&paid, "exceed", "USD", "999999").await);
    note(&app.refund(&paid, "ccy", "EUR", "1").await);
    note(
        &app.refund("20990101000000194000000000000000000", "none", "USD", "1")
            .await,
    );
    let unpaid = app
        .payment("GCASH", "CASHIER_PAYMENT", "USD", "100", false)
        .await;
    note(&app.refund(&unpaid, "unpaid", "USD", "1").await);
    note(&app.refund(&paid, "ok", "USD", "101").await);
    // F PAYMENT_METHOD_NOT_SUPPORTED: the merchant's contract turns refunds off for a method.
    let mut contract = Contract::default();
    contract
        .method_overrides
        .push(MethodOverride::parse("TRUEMONEY:refund_supported=false").expect("override"));
    set_contract(&app, None, contract.clone()).await;
    let voucher = app
        .payment("TRUEMONEY", "AGREEMENT_PAYMENT", "USD", "100", false)
        .await;
    note(&app.refund(&voucher, "voucher", "USD", "1").await);
    // F REFUND_WINDOW_EXCEED: QRIS allows 7 days.
    let qris = app
        .payment("QRIS", "AGREEMENT_PAYMENT", "USD", "100", false)
        .await;
    app.clock.advance_days(8);
    note(&app.refund(&qris, "late", "USD", "1").await);
    // F MERCHANT_BALANCE_NOT_ENOUGH: the merchant's balance is taken away first.
    let available = balance(&app, ":available", "USD").await;
    let usd = Currency::parse("USD").expect("usd");
    app.engine
        .move_merchant_funds(
            &client(&app),
            Money::new(usd, -available),
            PostingKind::Adjustment,
            "drain",
        )
        .await
        .expect("drain");
    note(&app.refund(&paid, "broke", "USD", "1").await);
    app.engine
        .move_merchant_funds(
            &client(&app),
            Money::new(usd, 100_000),
            PostingKind::Funding,
            "top-up",
        )
        .await
        .expect("fund");
    // F from the channel, scripted: ORDER_IS_CLOSED, PROCESS_FAIL, RISK_REJECT, and ACCESS_DENIED refused.
    for (i, s) in [
        "ORDER_IS_CLOSED",
        "PROCESS_FAIL",
        "RISK_REJECT",
        "ACCESS_DENIED",
    ]
    .iter()
    .enumerate()
    {
        script(&app, s).await;
        note(
            &app.refund(&paid, &format!("scripted-{i}"), "USD", "1")
                .await,
        );
    }
    // The real rate limit of a contract: one refund a second.
    set_contract(
        &app,
        None,
        Contract {
            rate_limit_per_second: Some(1),
            ..contract
        },
    )
    .await;
    let first = app.refund(&paid, "limited-1", "USD", "1").await;
    let second = app.refund(&paid, "limited-2", "USD", "1").await;
    assert_eq!(code(&first).1, "S", "{first}");
    note(&second);

    let expected = [
        ("SUCCESS", "S"),
        ("REFUND_IN_PROCESS", "U"),
        ("MULTIPLE_REFUNDS_NOT_SUPPORTED", "F"),
        ("PARTIAL_REFUND_NOT_SUPPORTED", "F"),
        ("UNKNOWN_EXCEPTION", "U"),
        ("REQUEST_TRAFFIC_EXCEED_LIMIT", "U"),
        ("REFUND_AMOUNT_EXCEED", "F"),
        ("CURRENCY_NOT_SUPPORT", "F"),
        ("ORDER_NOT_EXIST", "F"),
        ("ORDER_STATUS_INVALID", "F"),
        ("REPEAT_REQ_INCONSISTENT", "F"),
        ("PAYMENT_METHOD_NOT_SUPPORTED", "F"),
        ("REFUND_WINDOW_EXCEED", "F"),
        ("MERCHANT_BALANCE_NOT_ENOUGH", "F"),
        ("ORDER_IS_CLOSED", "F"),
        ("PROCESS_FAIL", "F"),
        ("RISK_REJECT", "F"),
        ("ACCESS_DENIED", "F"),
        ("REQUEST_TRAFFIC_EXCEED_LIMIT", "U"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(c, s)| (c.to_string(), s.to_string()))
        .collect();
    assert_eq!(seen, expected);

    // The timed-out refund answers its current state when retried, and completes later.
    set_contract(&app, None, Contract::default()).await;
    let retry = app.refund(&paid, "timeout", "USD", "100").await;
    assert_eq!(code(&retry), ("UNKNOWN_EXCEPTION", "U"));
    assert_eq!(retry["refundId"], timed_out["refundId"]);
    app.clock.advance_millis(31_000);
    app.engine.run_due_jobs().await.expect("jobs");
    assert_eq!(
        code(&app.refund(&paid, "timeout", "USD", "100").await),
        ("SUCCESS", "S")
    );
    assert_ledger_sound(&app).await;
}
on_both_backends!(every_refund_code_with_its_status);

/// The notifications owed for the refund an answer names: their address and kind.
async fn owed(app: &TestApp, answer: &Value) -> Vec<(String, NotificationKind)> {
    let filter = NotificationFilter {
        limit: 1_000,
        ..NotificationFilter::default()
    };
    let rows: Vec<NotificationRow> = app
        .engine
        .store_for_tests()
        .notifications(&filter)
        .await
        .expect("rows");
    rows.into_iter()
        .filter(|r| Some(r.subject_id.as_str()) == answer["refundId"].as_str())
        .map(|r| (r.url, r.kind))
        .collect()
}

/// An async bank-transfer refund answers U, and SUCCESS once the scheduler
/// ran on the manual clock; the notification it owes is written then.
async fn async_refunds_complete_on_the_scheduler(backend: Backend) {
    let app = spawn_app(backend).await;
    let bank = app
        .payment("BANK_TRANSFER", "AGREEMENT_PAYMENT", "USD", "800", false)
        .await;
    let refund = app
        .call(
            "refund",
            json!({
                "refundRequestId": "async-1",
                "paymentId": bank,
                "refundAmount": {"currency": "USD", "value": "800"},
                "refundNotifyUrl": "https://shop.example/refunds",
            }),
        )
        .await;
    assert_eq!(code(&refund), ("REFUND_IN_PROCESS", "U"));
    assert!(
        owed(&app, &refund).await.is_empty(),
        "nothing is owed before the refund is final"
    );
    assert_eq!(inquire(&app, &refund).await["refundStatus"], "PROCESSING");
    assert_eq!(
        balance(&app, ":reserved", "USD").await,
        800,
        "the refund holds its funds"
    );
    assert_eq!(
        app.engine.run_due_jobs().await.expect("jobs"),
        0,
        "nothing is due yet"
    );
    app.clock.advance_millis(60_000);
    assert_eq!(app.engine.run_due_jobs().await.expect("jobs"), 1);
    let done = inquire(&app, &refund).await;
    assert_eq!(
        (code(&done), done["refundStatus"].as_str()),
        (("SUCCESS", "S"), Some("SUCCESS"))
    );
    assert!(done["refundTime"].is_string());
    assert_eq!(
        owed(&app, &refund).await,
        vec![(
            "https://shop.example/refunds".to_owned(),
            NotificationKind::RefundResult
        )],
        "the final state owes the merchant one notifyRefund"
    );
    assert_eq!(balance(&app, ":reserved", "USD").await, 0);
    assert_eq!(balance(&app, ":available", "USD").await, 0);

    // A scripted async failure releases the held funds.
    let paid = app.paid_payment("USD", "300").await;
    script(&app, "REFUND_IN_PROCESS;delay=5;then=PROCESS_FAIL").await;
    let failing = app.refund(&paid, "async-2", "USD", "300").await;
    assert_eq!(code(&failing), ("REFUND_IN_PROCESS", "U"));
    app.clock.advance_millis(5_000);
    app.engine.run_due_jobs().await.expect("jobs");
    assert_eq!(inquire(&app, &failing).await["refundStatus"], "FAIL");
    assert_eq!(
        code(&app.refund(&paid, "async-2", "USD", "300").await),
        ("PROCESS_FAIL", "F")
    );
    assert_eq!(balance(&app, ":available", "USD").await, 300);
    // The failed refund no longer counts: the whole payment can be refunded again.
    assert_eq!(
        code(&app.refund(&paid, "async-3", "USD", "300").await),
        ("SUCCESS", "S")
    );
    assert_ledger_sound(&app).await;
}
on_both_backends!(async_refunds_complete_on_the_scheduler);

/// A USD payment settled in SGD: the refund settles at the refund day's rate, half-even.
async fn cross_currency_refunds_settle_at_the_refund_days_rate(backend: Backend) {
    let app = spawn_app(backend).await;
    set_contract(&app, Some("SGD"), Contract::default()).await;
    let today = app.clock_day();
    let tomorrow = app.clock_day_after(1);
    let rates = format!("date,pair,rate\n{today},USD/SGD,1.3\n{tomorrow},USD/SGD,1.3457\n");
    app.engine.import_fx_rates(&rates).await.expect("rates");
    let payment = app.paid_payment("USD", "10000").await; // USD 100.00 → SGD 130.00
    assert_eq!(balance(&app, ":available", "SGD").await, 13_000);
    app.clock.advance_days(1);
    // USD 3.33 × 1.3457 = SGD 4.481181 → 4.48; USD 0.50 × 1.3457 = 0.67285 → 0.67
    let refund = app.refund(&payment, "fx-1", "USD", "333").await;
    assert_eq!(code(&refund), ("SUCCESS", "S"), "{refund}");
    assert_eq!(
        refund["grossSettlementAmount"],
        json!({"currency": "SGD", "value": "448"})
    );
    let quote = &refund["settlementQuote"];
    assert_eq!(quote["quoteCurrencyPair"], "USD/SGD");
    assert_eq!(quote["quotePrice"], json!(1.3457));
    assert_eq!(quote["guaranteed"], json!(false));
    let second = app.refund(&payment, "fx-2", "USD", "50").await;
    assert_eq!(second["grossSettlementAmount"]["value"], "67");
    let inquiry = inquire(&app, &refund).await;
    assert_eq!(
        inquiry["grossSettlementAmount"],
        refund["grossSettlementAmount"]
    );
    assert_eq!(inquiry["settlementQuote"]["quotePrice"], json!(1.3457));
    assert_eq!(balance(&app, ":available", "SGD").await, 13_000 - 448 - 67);
    assert_ledger_sound(&app).await;
}
on_both_backends!(cross_currency_refunds_settle_at_the_refund_days_rate);

/// Commission is charged on payments and returned by refunds as the contract says.
async fn commission_follows_the_contract(backend: Backend) {
    let app = spawn_app(backend).await;
    let contract = Contract {
        commission_bps: 250,
        commission_refund: CommissionRefund::Proportional,
        ..Contract::default()
    };
    set_contract(&app, None, contract).await;
    let payment = app.paid_payment("USD", "10000").await;
    assert_eq!(balance(&app, ":available", "USD").await, 9_750);
    app.refund(&payment, "c-1", "USD", "2500").await;
    // 2,500 refunded, 62.5 → 62 commission back (half-even).
    assert_eq!(balance(&app, ":available", "USD").await, 9_750 - 2_500 + 62);
    // Refunds are paid from the balance before the commission comes back: 7,312 cannot cover 7,500.
    assert_eq!(
        code(&app.refund(&payment, "c-2", "USD", "7500").await),
        ("MERCHANT_BALANCE_NOT_ENOUGH", "F")
    );
    let usd = Currency::parse("USD").expect("usd");
    app.engine
        .move_merchant_funds(
            &client(&app),
            Money::new(usd, 1_000),
            PostingKind::Funding,
            "top-up",
        )
        .await
        .expect("fund");
    assert_eq!(
        code(&app.refund(&payment, "c-3", "USD", "7500").await),
        ("SUCCESS", "S")
    );
    // The last refund returns the whole remainder (188), 250 in all.
    assert_eq!(
        balance(&app, ":available", "USD").await,
        8_312 - 7_500 + 188
    );
    assert_ledger_sound(&app).await;
}
on_both_backends!(commission_follows_the_contract);

/// Cards through 2C2P are refunded synchronously and carry the acquirer's references.
async fn apo_card_refunds_carry_acquirer_info(backend: Backend) {
    let app = spawn_app(backend).await;
    set_contract(
        &app,
        None,
        Contract {
            card_acquirer: Some("2C2P_SG".into()),
            ..Contract::default()
        },
    )
    .await;
    let card = app
        .payment("CARD", "CASHIER_PAYMENT", "USD", "1000", false)
        .await;
    let refund = app.refund(&card, "apo-1", "USD", "110").await;
    assert_eq!(code(&refund), ("SUCCESS", "S"));
    assert_eq!(refund["acquirerInfo"]["acquirerName"], "2C2P");
    assert_eq!(
        refund["acquirerInfo"]["referenceRequestId"],
        refund["refundId"]
    );
    assert_eq!(
        refund["acquirerReferenceNo"].as_str().map(str::len),
        Some(31)
    );
    assert_eq!(
        inquire(&app, &refund).await["acquirerInfo"],
        refund["acquirerInfo"]
    );
}
on_both_backends!(apo_card_refunds_carry_acquirer_info);

/// A refund the bank returns stays successful on the API; the money is the merchant's again.
async fn reversals_credit_the_merchant_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let payment = app.paid_payment("USD", "1000").await;
    script(&app, "SUCCESS;reverse_after=3600").await;
    let refund = app.refund(&payment, "rev-1", "USD", "400").await;
    assert_eq!(code(&refund), ("SUCCESS", "S"));
    assert_eq!(balance(&app, ":available", "USD").await, 600);
    app.clock.advance_millis(3_600_000);
    app.engine.run_due_jobs().await.expect("jobs");
    assert_eq!(inquire(&app, &refund).await["refundStatus"], "SUCCESS");
    assert_eq!(balance(&app, ":available", "USD").await, 1000);
    assert_ledger_sound(&app).await;
}
on_both_backends!(reversals_credit_the_merchant_back);

#[tokio::test]
async fn sandbox_scripts_over_the_admin_api() {
    let app = spawn_app(Backend::Sqlite).await;
    let path = format!("/admin/sandbox/{}/refund-scripts", app.merchant.client_id);
    let denied = app
        .http
        .post(app.url(&path))
        .json(&json!({"script": "RISK_REJECT"}))
        .send()
        .await
        .expect("send");
    assert_eq!(denied.status(), 401);
    assert_eq!(
        app.admin_post(&path, json!({"script": "RISK_REJECT"}))
            .await,
        201
    );
    assert_eq!(
        app.admin_post(&path, json!({"script": "NOT_A_CODE"})).await,
        400
    );
    let payment = app.paid_payment("USD", "100").await;
    assert_eq!(
        code(&app.refund(&payment, "x", "USD", "1").await),
        ("RISK_REJECT", "F")
    );
    // Inline scripts in the reason work too, and production merchants cannot script.
    let inline = app
        .call(
            "refund",
            json!({"refundRequestId": "y", "paymentId": payment, "refundAmount": {"currency": "USD", "value": "1"}, "refundReason": "sandbox:REFUND_WINDOW_EXCEED"}),
        )
        .await;
    assert_eq!(code(&inline), ("REFUND_WINDOW_EXCEED", "F"));
    let prod = app.another_merchant(false).await;
    let path = format!("/admin/sandbox/{}/refund-scripts", prod.client_id);
    assert_eq!(
        app.admin_post(&path, json!({"script": "RISK_REJECT"}))
            .await,
        400
    );
}

impl TestApp {
    /// POSTs JSON to the admin API with the test token; returns the HTTP status.
    async fn admin_post(&self, path: &str, body: Value) -> u16 {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(crate::helpers::ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("send");
        resp.status().as_u16()
    }

    fn clock_day(&self) -> String {
        backflow_domain::Clock::now(self.clock.as_ref()).date_string()
    }

    fn clock_day_after(&self, days: i64) -> String {
        backflow_domain::Clock::now(self.clock.as_ref())
            .plus_days(days)
            .date_string()
    }
}

#[tokio::test]
async fn an_open_chargeback_blocks_card_refunds() {
    let app = spawn_app(Backend::Sqlite).await;
    let card = app
        .payment("CARD", "CASHIER_PAYMENT", "USD", "1000", false)
        .await;
    let path = format!(
        "/admin/payments/{}/{card}/chargeback",
        app.merchant.client_id
    );
    assert_eq!(app.admin_post(&path, json!({"pending": true})).await, 200);
    assert_eq!(
        code(&app.refund(&card, "cb-1", "USD", "100").await),
        ("ORDER_STATUS_INVALID", "F")
    );
    assert_eq!(app.admin_post(&path, json!({"pending": false})).await, 200);
    assert_eq!(
        code(&app.refund(&card, "cb-1", "USD", "100").await).0,
        "REFUND_IN_PROCESS"
    );
}
