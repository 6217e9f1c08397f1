//! The notifier against real HTTP receivers on 127.0.0.1: signatures (checked
//! by the official Python SDK too), the retry schedule on the manual clock,
//! acknowledgement rules, timeouts, bounded answers, per-merchant caps, the
//! SSRF guard, claims shared by several notifiers, a kill -9 mid-delivery,
//! the admin endpoint and the CLI.

use crate::helpers::{
    on_both_backends, serve, spawn_app, test_notifier_config, Received, Receiver, Reply, TestApp,
    ACK, ADMIN_TOKEN,
};
use backflow_crypto::ams::{parse_signature_header, signed_content};
use backflow_domain::merchant::Merchant;
use backflow_domain::payment::{Door, Payment};
use backflow_domain::refund::{Hold, Refund, RefundState, RefundStatus, Settlement};
use backflow_domain::{ClientId, Clock, Money, RefundId, RefundRequestId};
use backflow_engine::notices;
use backflow_notify::{Notifier, RETRY_DELAYS_MS};
use backflow_store::{
    AttemptRow, ClaimRequest, NewNotification, NotificationFilter, NotificationKind,
    NotificationRow, NotificationStatus, PaymentKey, RefundKey, Store,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A real merchant, payment and final refund to notify about, made through the API.
struct Subject {
    merchant: Merchant,
    payment: Payment,
    refund: Refund,
}

async fn subject(app: &TestApp) -> Subject {
    let payment_id = app.paid_payment("USD", "100000").await;
    let request_id = format!("r-{}", backflow_engine::ids::random_token(10));
    let answer = app.refund(&payment_id, &request_id, "USD", "100").await;
    assert_eq!(answer["result"]["resultStatus"], "S", "{answer}");
    let store = app.engine.store_for_tests();
    let client = ClientId::parse(app.merchant.client_id.clone()).expect("client id");
    let merchant = store
        .merchant(&client)
        .await
        .expect("db")
        .expect("merchant");
    let payment = store
        .payment(
            &client,
            PaymentKey::Id(&backflow_domain::PaymentId::parse(payment_id).expect("id")),
        )
        .await
        .expect("db")
        .expect("payment");
    let refund = store
        .refund(
            &client,
            RefundKey::RequestId(&RefundRequestId::parse(request_id).expect("id")),
        )
        .await
        .expect("db")
        .expect("refund");
    Subject {
        merchant,
        payment,
        refund,
    }
}

impl Subject {
    /// Another final refund of the same payment, as the refund lifecycle would hand it over.
    fn refund(&self, n: usize, status: RefundStatus, notify_url: Option<&str>) -> Refund {
        let mut r = self.refund.clone();
        r.id = RefundId::parse(format!("{}{n:05}", &self.refund.id.as_str()[..30])).expect("id");
        r.request_id = RefundRequestId::parse(format!("notify-{n}")).expect("id");
        r.notify_url = notify_url.map(str::to_owned);
        let held = Money::new(r.state.settlement_currency(), r.amount.minor);
        let hold = Hold {
            amount: held,
            quote: None,
        };
        r.state = match status {
            RefundStatus::Processing => RefundState::Processing {
                hold,
                timed_out: false,
            },
            RefundStatus::WaitingFunds => RefundState::WaitingFunds {
                currency: held.currency,
            },
            RefundStatus::Success => RefundState::Success(Settlement {
                held,
                settled: held,
                quote: None,
                commission_returned: 0,
                finished_at: r.created_at,
            }),
            RefundStatus::Fail => RefundState::Fail {
                code: backflow_domain::ResultCode::ProcessFail,
                released: hold,
                finished_at: r.created_at,
            },
        };
        r
    }

    /// Writes the notifications owed for `refunds` through `notices::refund_final`, in one transaction.
    async fn owe(&self, app: &TestApp, merchant: &Merchant, refunds: &[Refund]) {
        let mut tx = app.engine.store_for_tests().begin().await.expect("begin");
        for r in refunds {
            notices::refund_final(&mut tx, merchant, &self.payment, r, app.clock.now())
                .await
                .expect("refund_final");
        }
        tx.commit().await.expect("commit");
    }

    /// Owes `receiver` the notification of one successful refund.
    async fn owe_one(&self, app: &TestApp, receiver: &Receiver) {
        let refund = self.refund(1, RefundStatus::Success, Some(&receiver.url("/n")));
        self.owe(app, &self.merchant, &[refund]).await;
    }
}

async fn all_rows(store: &Store) -> Vec<NotificationRow> {
    store
        .notifications(&NotificationFilter {
            limit: 100_000,
            ..NotificationFilter::default()
        })
        .await
        .expect("list")
}

async fn only_row(store: &Store) -> NotificationRow {
    let rows = all_rows(store).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows.into_iter().next().expect("row")
}

fn verify_ams_signature(app: &TestApp, r: &Received) {
    let sig = parse_signature_header(r.header("signature")).expect("signature header");
    let content = signed_content(
        "POST",
        &r.path,
        r.header("client-id"),
        r.header("request-time"),
        r.body.as_bytes(),
    );
    assert!(
        app.merchant
            .platform
            .verify_sha256(&content, &sig.signature),
        "notification signature must verify: {r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdk_accepts_every_notification_signature() {
    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    let receiver = Receiver::acking().await;
    let s = subject(&app).await;
    // The signed path excludes the query, as the merchant sample's getRequestURI() does.
    let with_query = receiver.url("/antom/notify?shop=1&x=%2F");
    let plain = receiver.url("/notify/refund");
    s.owe(
        &app,
        &s.merchant,
        &[
            s.refund(1, RefundStatus::Success, Some(&with_query)),
            s.refund(2, RefundStatus::Fail, Some(&plain)),
        ],
    )
    .await;
    assert_eq!(app.notifier.dispatch_due().await.expect("dispatch"), 2);
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    for r in &got {
        assert_eq!(r.header("client-id"), app.merchant.client_id);
        assert!(r
            .header("signature")
            .starts_with("algorithm=RSA256,keyVersion=1,signature="));
        assert!(r.header("content-type").starts_with("application/json"));
        verify_ams_signature(&app, r);
        let body: Value = serde_json::from_str(&r.body).expect("json");
        assert_eq!(body["notifyType"], "REFUND_RESULT");
        assert_eq!(body["paymentId"], s.payment.id.as_str());
        assert_eq!(
            body["refundAmount"],
            json!({"currency": "USD", "value": "100"})
        );
    }
    let success = got
        .iter()
        .find(|r| r.path == "/antom/notify")
        .expect("success");
    let body: Value = serde_json::from_str(&success.body).expect("json");
    assert_eq!(body["refundStatus"], "SUCCESS");
    assert_eq!(body["result"]["resultStatus"], "S");
    let fail = got
        .iter()
        .find(|r| r.path == "/notify/refund")
        .expect("fail");
    let body: Value = serde_json::from_str(&fail.body).expect("json");
    assert_eq!(body["refundStatus"], "FAIL");
    assert_eq!(body["result"]["resultStatus"], "F");

    let creds: Value = serde_json::from_slice(
        &std::fs::read(app.data_dir.path().join("demo-merchant.json")).expect("credentials"),
    )
    .expect("json");
    let cases: Vec<Value> = got
        .iter()
        .map(|r| {
            json!({
                "path": r.path,
                "clientId": r.header("client-id"),
                "requestTime": r.header("request-time"),
                "signature": r.header("signature"),
                "body": r.body,
            })
        })
        .collect();
    let file = app.data_dir.path().join("webhooks.json");
    std::fs::write(
        &file,
        serde_json::to_vec(
            &json!({"platformPublicKey": creds["platformPublicKey"], "notifications": cases}),
        )
        .expect("json"),
    )
    .expect("write");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/interop/check_webhook.py"
    );
    let output =
        tokio::process::Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
            .arg(script)
            .arg(&file)
            .output()
            .await
            .expect("python3 must be installed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the SDK check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("webhook: 2 notifications verified"),
        "{stdout}"
    );
}

async fn retry_schedule_follows_the_manual_clock(backend: crate::helpers::Backend) {
    let app = spawn_app(backend).await;
    let receiver = Receiver::start(|_, _| Reply::Status(500, ACK)).await;
    let s = subject(&app).await;
    s.owe_one(&app, &receiver).await;
    let store = app.engine.store_for_tests();
    assert_eq!(app.notifier.dispatch_due().await.expect("dispatch"), 1);
    let mut request_times = vec![receiver.received()[0].header("request-time").to_owned()];
    for (i, delay) in RETRY_DELAYS_MS.iter().enumerate() {
        // A millisecond early: nothing is due.
        app.clock.advance_millis(delay - 1);
        assert_eq!(app.notifier.dispatch_due().await.expect("dispatch"), 0);
        assert_eq!(
            receiver.count(),
            i + 1,
            "sent early before attempt {}",
            i + 2
        );
        app.clock.advance_millis(1);
        assert_eq!(app.notifier.dispatch_due().await.expect("dispatch"), 1);
        assert_eq!(receiver.count(), i + 2, "attempt {} missing", i + 2);
        request_times.push(receiver.received()[i + 1].header("request-time").to_owned());
    }
    let row = only_row(store).await;
    assert_eq!(row.status, NotificationStatus::GaveUp);
    assert_eq!(row.attempts, 8);
    // Nothing beyond the schedule, however long we wait.
    for _ in 0..3 {
        app.clock.advance_days(10);
        assert_eq!(app.notifier.dispatch_due().await.expect("dispatch"), 0);
    }
    assert_eq!(receiver.count(), 8);
    // Same body on every attempt, each signed afresh with its own request-time.
    let got = receiver.received();
    assert!(got.iter().all(|r| r.body == got[0].body));
    request_times.dedup();
    assert_eq!(request_times.len(), 8, "{request_times:?}");
    got.iter().for_each(|r| verify_ams_signature(&app, r));
    let log = store.notification_attempts(&row.id).await.expect("log");
    assert_eq!(log.len(), 8);
    for (i, a) in log.iter().enumerate() {
        assert_eq!(a.attempt_no as usize, i + 1);
        assert_eq!(a.http_status, Some(500));
        assert_eq!(a.error.as_deref(), Some("HTTP 500"));
        assert!(a.latency_ms.is_some());
        assert_eq!(a.response_excerpt.as_deref(), Some(ACK));
    }
    let offsets: Vec<i64> = log
        .iter()
        .map(|a| a.attempted_at.millis() - log[0].attempted_at.millis())
        .collect();
    let mut expected = vec![0];
    for d in RETRY_DELAYS_MS {
        expected.push(expected.last().copied().unwrap_or(0) + d);
    }
    assert_eq!(offsets, expected);
}
on_both_backends!(retry_schedule_follows_the_manual_clock);

async fn misses_until_a_real_acknowledgement(backend: crate::helpers::Backend) {
    let app = spawn_app(backend).await;
    // Each miss is a different way of not acknowledging.
    let receiver = Receiver::start(|_, nth| match nth {
        1 => Reply::Status(500, ACK),
        2 => Reply::Status(
            200,
            r#"{"result":{"resultCode":"PROCESS_FAIL","resultStatus":"F","resultMessage":"no"}}"#,
        ),
        3 => Reply::Status(200, "OK"),
        _ => Reply::Status(200, ACK),
    })
    .await;
    let s = subject(&app).await;
    s.owe_one(&app, &receiver).await;
    let store = app.engine.store_for_tests();
    app.notifier.dispatch_due().await.expect("dispatch");
    for delay in &RETRY_DELAYS_MS[..3] {
        app.clock.advance_millis(*delay);
        app.notifier.dispatch_due().await.expect("dispatch");
    }
    let row = only_row(store).await;
    assert_eq!(row.status, NotificationStatus::Delivered);
    assert_eq!(row.attempts, 4);
    assert_eq!(row.delivered_at, Some(app.clock.now()));
    for delay in &RETRY_DELAYS_MS[3..] {
        app.clock.advance_millis(*delay);
        assert_eq!(app.notifier.dispatch_due().await.expect("dispatch"), 0);
    }
    assert_eq!(
        receiver.count(),
        4,
        "nothing is sent after the acknowledgement"
    );
    let log = store.notification_attempts(&row.id).await.expect("log");
    let errors: Vec<Option<&str>> = log.iter().map(|a| a.error.as_deref()).collect();
    assert_eq!(
        errors,
        vec![
            Some("HTTP 500"),
            Some("result.resultStatus is \"F\""),
            Some("the answer is not JSON"),
            None
        ]
    );
}
on_both_backends!(misses_until_a_real_acknowledgement);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_times_out_and_is_retried() {
    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    let receiver = Receiver::start(|_, nth| {
        if nth == 1 {
            Reply::Hang
        } else {
            Reply::Status(200, ACK)
        }
    })
    .await;
    let s = subject(&app).await;
    s.owe_one(&app, &receiver).await;
    let started = Instant::now();
    assert_eq!(app.notifier.dispatch_due().await.expect("dispatch"), 1);
    let timeout = test_notifier_config().post_timeout;
    assert!(started.elapsed() >= timeout, "{:?}", started.elapsed());
    assert!(started.elapsed() < timeout * 4, "{:?}", started.elapsed());
    let store = app.engine.store_for_tests();
    let row = only_row(store).await;
    assert_eq!(row.status, NotificationStatus::Pending);
    let log = store.notification_attempts(&row.id).await.expect("log");
    assert_eq!(log[0].http_status, None);
    assert!(
        log[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("timed out")),
        "{log:?}"
    );
    app.clock.advance_millis(RETRY_DELAYS_MS[0]);
    assert_eq!(app.notifier.dispatch_due().await.expect("dispatch"), 1);
    assert_eq!(only_row(store).await.status, NotificationStatus::Delivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_read_only_up_to_the_limit() {
    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    let receiver = Receiver::start(|_, _| Reply::Endless).await;
    let s = subject(&app).await;
    s.owe_one(&app, &receiver).await;
    let started = Instant::now();
    app.notifier.dispatch_due().await.expect("dispatch");
    // Without the limit the endless answer runs into the timeout instead.
    assert!(
        started.elapsed() < test_notifier_config().post_timeout,
        "{:?}",
        started.elapsed()
    );
    let store = app.engine.store_for_tests();
    let row = only_row(store).await;
    let log = store.notification_attempts(&row.id).await.expect("log");
    assert_eq!(log[0].http_status, Some(200));
    assert_eq!(
        log[0].response_excerpt.as_deref().map(str::len),
        Some(backflow_notify::EXCERPT_BYTES)
    );
    assert!(
        log[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("longer than")),
        "{log:?}"
    );
    assert_eq!(row.status, NotificationStatus::Pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_merchant_cannot_starve_the_others() {
    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    let config = test_notifier_config();
    let slow = Receiver::start(|_, _| Reply::Held).await;
    let fast = Receiver::acking().await;
    let s = subject(&app).await;
    // The slow merchant owes more than the whole node may have in flight.
    let slow_rows: Vec<Refund> = (0..config.max_in_flight * 2)
        .map(|n| s.refund(n, RefundStatus::Success, Some(&slow.url("/slow"))))
        .collect();
    s.owe(&app, &s.merchant, &slow_rows).await;
    // The other merchant's rows fall due after all of the slow one's.
    app.clock.advance_millis(1);
    let other = app.another_merchant(true).await;
    let other = app
        .engine
        .store_for_tests()
        .merchant(&ClientId::parse(other.client_id).expect("id"))
        .await
        .expect("db")
        .expect("merchant");
    let fast_rows: Vec<Refund> = (0..5)
        .map(|n| s.refund(1000 + n, RefundStatus::Success, Some(&fast.url("/fast"))))
        .collect();
    s.owe(&app, &other, &fast_rows).await;

    let notifier = app.notifier.clone();
    let pump = tokio::spawn(async move { notifier.dispatch_due().await });
    let deadline = Instant::now() + Duration::from_secs(10);
    while fast.count() < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fast.count(), 5, "the fast merchant waited for the slow one");
    assert_eq!(
        slow.max_in_flight(),
        config.max_in_flight_per_merchant,
        "the slow merchant holds exactly its cap"
    );
    slow.release_all();
    let attempts = pump.await.expect("join").expect("dispatch");
    assert_eq!(attempts, slow_rows.len() + fast_rows.len());
    assert!(slow.max_in_flight() <= config.max_in_flight_per_merchant);
    assert!(all_rows(app.engine.store_for_tests())
        .await
        .iter()
        .all(|r| r.status == NotificationStatus::Delivered));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_merchants_cannot_notify_private_addresses() {
    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    let receiver = Receiver::acking().await;
    let s = subject(&app).await;
    let live = app.another_merchant(false).await;
    let live = app
        .engine
        .store_for_tests()
        .merchant(&ClientId::parse(live.client_id).expect("id"))
        .await
        .expect("db")
        .expect("merchant");
    let port = receiver.addr.port();
    // A literal loopback address, and a name that resolves to one.
    let literal = format!("http://127.0.0.1:{port}/literal");
    let named = format!("http://localhost:{port}/named");
    s.owe(
        &app,
        &live,
        &[
            s.refund(1, RefundStatus::Success, Some(&literal)),
            s.refund(2, RefundStatus::Success, Some(&named)),
        ],
    )
    .await;
    // The same addresses are fine for a sandbox merchant.
    s.owe(
        &app,
        &s.merchant,
        &[s.refund(3, RefundStatus::Success, Some(&literal))],
    )
    .await;
    assert_eq!(app.notifier.dispatch_due().await.expect("dispatch"), 3);
    let got = receiver.received();
    assert_eq!(
        got.len(),
        1,
        "only the sandbox merchant's notification arrives: {got:?}"
    );
    assert_eq!(got[0].header("client-id"), app.merchant.client_id);
    let store = app.engine.store_for_tests();
    for row in all_rows(store).await {
        let log = store.notification_attempts(&row.id).await.expect("log");
        if row.client_id == live.client_id {
            assert_eq!(row.status, NotificationStatus::Pending);
            assert_eq!(log[0].http_status, None);
            assert!(
                log[0].error.as_deref().is_some_and(|e| e.contains("SSRF")),
                "{log:?}"
            );
        } else {
            assert_eq!(row.status, NotificationStatus::Delivered);
        }
    }
}

async fn the_requested_address_wins_then_the_merchants(backend: crate::helpers::Backend) {
    let app = spawn_app(backend).await;
    let s = subject(&app).await;
    let store = app.engine.store_for_tests();
    let mut merchant = s.merchant.clone();
    // Neither address: no row; the refund can still be inquired.
    merchant.notify_url = None;
    s.owe(&app, &merchant, &[s.refund(1, RefundStatus::Success, None)])
        .await;
    assert!(all_rows(store).await.is_empty());
    // The merchant's configured address, set as `merchant set-notify-url` does.
    let mut tx = store.begin().await.expect("begin");
    assert!(tx
        .set_merchant_notify_url(&merchant.client_id, Some("https://shop.example/default"))
        .await
        .expect("set"));
    tx.commit().await.expect("commit");
    let merchant = store
        .merchant(&merchant.client_id)
        .await
        .expect("db")
        .expect("merchant");
    assert_eq!(
        merchant.notify_url.as_deref(),
        Some("https://shop.example/default")
    );
    s.owe(&app, &merchant, &[s.refund(2, RefundStatus::Success, None)])
        .await;
    // The request's address wins over it.
    s.owe(
        &app,
        &merchant,
        &[s.refund(3, RefundStatus::Fail, Some("https://shop.example/asked"))],
    )
    .await;
    // A subject is notified once: writing it again adds nothing.
    s.owe(
        &app,
        &merchant,
        &[s.refund(3, RefundStatus::Fail, Some("https://shop.example/asked"))],
    )
    .await;
    let mut rows = all_rows(store).await;
    rows.sort_by(|a, b| a.subject_id.cmp(&b.subject_id));
    let urls: Vec<&str> = rows.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(
        urls,
        vec!["https://shop.example/default", "https://shop.example/asked"]
    );
    assert!(rows.iter().all(|r| r.kind == NotificationKind::RefundResult
        && r.protocol == Door::Ams
        && r.status == NotificationStatus::Pending
        && r.next_attempt_at == r.created_at));
    // A refund that is not final has nothing to report.
    let mut tx = store.begin().await.expect("begin");
    let processing = s.refund(4, RefundStatus::Processing, Some("https://shop.example/x"));
    assert!(
        notices::refund_final(&mut tx, &merchant, &s.payment, &processing, app.clock.now())
            .await
            .is_err()
    );
}
on_both_backends!(the_requested_address_wins_then_the_merchants);

async fn several_notifiers_never_send_an_attempt_twice(backend: crate::helpers::Backend) {
    let app = spawn_app(backend).await;
    let receiver = Receiver::acking().await;
    let s = subject(&app).await;
    // Several merchants, so the per-merchant cap does not serialise everything.
    let mut merchants = vec![s.merchant.clone()];
    for _ in 0..3 {
        let m = app.another_merchant(true).await;
        merchants.push(
            app.engine
                .store_for_tests()
                .merchant(&ClientId::parse(m.client_id).expect("id"))
                .await
                .expect("db")
                .expect("merchant"),
        );
    }
    for (i, m) in merchants.iter().enumerate() {
        let refunds: Vec<Refund> = (0..50)
            .map(|n| {
                s.refund(
                    i * 100 + n,
                    RefundStatus::Success,
                    Some(&receiver.url("/n")),
                )
            })
            .collect();
        s.owe(&app, m, &refunds).await;
    }
    // Three nodes on one database: same store, separate claim owners.
    let nodes: Vec<Notifier> = (0..3)
        .map(|_| Notifier::new(app.engine.clone(), test_notifier_config()).expect("notifier"))
        .collect();
    let runs = nodes
        .iter()
        .map(|n| {
            let n = n.clone();
            tokio::spawn(async move { n.dispatch_due().await })
        })
        .collect::<Vec<_>>();
    let mut total = 0;
    for r in runs {
        total += r.await.expect("join").expect("dispatch");
    }
    assert_eq!(total, 200);
    assert_eq!(receiver.count(), 200);
    let mut seen = HashMap::new();
    for r in receiver.received() {
        *seen.entry(r.body).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 200);
    assert!(seen.values().all(|n| *n == 1));
    let store = app.engine.store_for_tests();
    for row in all_rows(store).await {
        assert_eq!(row.status, NotificationStatus::Delivered);
        assert_eq!(row.attempts, 1);
    }
}
on_both_backends!(several_notifiers_never_send_an_attempt_twice);

async fn an_expired_claim_is_retried_and_logged_as_abandoned(backend: crate::helpers::Backend) {
    let app = spawn_app(backend).await;
    let receiver = Receiver::acking().await;
    let s = subject(&app).await;
    s.owe_one(&app, &receiver).await;
    let store = app.engine.store_for_tests();
    // A node claims the row, then dies before recording anything.
    let now = app.clock.now();
    let claim_ms = 60_000;
    let claimed = store
        .claim_due_notifications(
            &ClaimRequest {
                owner: "dead-node",
                now,
                expires_at: now.plus_millis(claim_ms),
                limit: 10,
                per_merchant_limit: 10,
                skip_merchants: &[],
                max_round_attempts: backflow_notify::MAX_ATTEMPTS,
            },
            |_| true,
        )
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 1);
    // While the claim lasts, nobody else sends.
    app.clock.advance_millis(claim_ms - 1);
    assert_eq!(app.notifier.dispatch_due().await.expect("dispatch"), 0);
    assert_eq!(receiver.count(), 0);
    app.clock.advance_millis(1);
    assert_eq!(app.notifier.dispatch_due().await.expect("dispatch"), 1);
    assert_eq!(receiver.count(), 1);
    let row = only_row(store).await;
    assert_eq!(row.status, NotificationStatus::Delivered);
    assert_eq!(row.attempts, 2);
    let log = store.notification_attempts(&row.id).await.expect("log");
    assert_eq!(log.len(), 2);
    assert!(
        log[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("abandoned") && e.contains("dead-node")),
        "{log:?}"
    );
    assert_eq!(log[1].http_status, Some(200));
    // The dead node's late record cannot move the schedule any more.
    store
        .record_notification_attempt(
            "dead-node",
            &AttemptRow {
                notification_id: row.id.clone(),
                attempt_no: 1,
                attempted_at: now,
                http_status: Some(500),
                latency_ms: Some(1),
                response_excerpt: None,
                error: Some("HTTP 500".into()),
            },
            backflow_store::AttemptResult::RetryAt(now),
        )
        .await
        .expect("record");
    assert_eq!(only_row(store).await.status, NotificationStatus::Delivered);
}
on_both_backends!(an_expired_claim_is_retried_and_logged_as_abandoned);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_rows_are_posted_as_forms_and_acknowledged_by_success() {
    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    let receiver = Receiver::start(|_, nth| {
        if nth == 1 {
            Reply::Status(200, "fail")
        } else {
            Reply::Status(200, "success\n")
        }
    })
    .await;
    let store = app.engine.store_for_tests();
    let id = notices::new_notification_id();
    let body = format!("notify_id={id}&notify_type=refund_status_sync&out_return_no=r1&refund_status=REFUND_SUCCESS&sign=abc&sign_type=MD5");
    let mut tx = store.begin().await.expect("begin");
    tx.insert_notification(&NewNotification {
        id: id.clone(),
        client_id: ClientId::parse(app.merchant.client_id.clone()).expect("id"),
        protocol: Door::Legacy,
        kind: NotificationKind::RefundResult,
        subject_id: "r1".into(),
        url: receiver.url("/legacy/notify"),
        body: body.clone(),
        created_at: app.clock.now(),
    })
    .await
    .expect("insert");
    tx.commit().await.expect("commit");
    app.notifier.dispatch_due().await.expect("dispatch");
    app.clock.advance_millis(RETRY_DELAYS_MS[0]);
    app.notifier.dispatch_due().await.expect("dispatch");
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    for r in &got {
        assert_eq!(r.body, body);
        assert!(r
            .header("content-type")
            .starts_with("application/x-www-form-urlencoded"));
        assert_eq!(r.header("signature"), "");
    }
    let row = store.notification(&id).await.expect("db").expect("row");
    assert_eq!(row.status, NotificationStatus::Delivered);
    assert_eq!(row.attempts, 2);
}

async fn a_thousand_notifications_acknowledged_on_the_third_attempt(
    backend: crate::helpers::Backend,
) {
    const N: usize = 1000;
    let app = spawn_app(backend).await;
    let receiver = Receiver::start(|_, nth| {
        if nth <= 2 {
            Reply::Status(503, "busy")
        } else {
            Reply::Status(200, ACK)
        }
    })
    .await;
    let s = subject(&app).await;
    let url = receiver.url("/n");
    let refunds: Vec<Refund> = (0..N)
        .map(|n| s.refund(n, RefundStatus::Success, Some(&url)))
        .collect();
    s.owe(&app, &s.merchant, &refunds).await;
    let store = app.engine.store_for_tests();
    let started = Instant::now();
    let mut per_step = vec![app.notifier.dispatch_due().await.expect("dispatch")];
    for delay in RETRY_DELAYS_MS {
        app.clock.advance_millis(delay);
        per_step.push(app.notifier.dispatch_due().await.expect("dispatch"));
    }
    app.clock.advance_days(30);
    per_step.push(app.notifier.dispatch_due().await.expect("dispatch"));
    eprintln!(
        "{backend:?}: {} attempts for {N} notifications in {:?}",
        3 * N,
        started.elapsed()
    );
    assert_eq!(per_step, vec![N, N, N, 0, 0, 0, 0, 0, 0]);
    assert_eq!(receiver.count(), 3 * N, "nothing sent beyond the schedule");
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in receiver.received() {
        *seen.entry(r.body).or_default() += 1;
    }
    assert_eq!(seen.len(), N);
    assert!(seen.values().all(|n| *n == 3));
    let rows = all_rows(store).await;
    assert_eq!(rows.len(), N);
    let mut logged = 0;
    for row in &rows {
        assert_eq!(row.status, NotificationStatus::Delivered, "{row:?}");
        assert_eq!(row.attempts, 3);
        logged += store
            .notification_attempts(&row.id)
            .await
            .expect("log")
            .len();
    }
    assert_eq!(logged, 3 * N, "every attempt is logged");
}
on_both_backends!(a_thousand_notifications_acknowledged_on_the_third_attempt);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoint_and_cli_list_and_resend() {
    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    let receiver = Receiver::start(|_, nth| {
        if nth <= 8 {
            Reply::Status(500, "down")
        } else {
            Reply::Status(200, ACK)
        }
    })
    .await;
    let s = subject(&app).await;
    s.owe_one(&app, &receiver).await;
    app.notifier.dispatch_due().await.expect("dispatch");
    for delay in RETRY_DELAYS_MS {
        app.clock.advance_millis(delay);
        app.notifier.dispatch_due().await.expect("dispatch");
    }
    let store = app.engine.store_for_tests();
    let row = only_row(store).await;
    assert_eq!(row.status, NotificationStatus::GaveUp);

    let admin = |path: &str| app.http.get(app.url(path));
    let unauthorised = admin("/admin/notifications").send().await.expect("send");
    assert_eq!(unauthorised.status(), 401);
    let list: Value = admin(&format!(
        "/admin/notifications?status=gave_up&merchant={}",
        app.merchant.client_id
    ))
    .bearer_auth(ADMIN_TOKEN)
    .send()
    .await
    .expect("send")
    .json()
    .await
    .expect("json");
    assert_eq!(list["notifications"][0]["id"], row.id.as_str());
    assert_eq!(list["notifications"][0]["attempts"], 8);
    let detail: Value = admin(&format!("/admin/notifications/{}", row.id))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(detail["attemptLog"].as_array().map(Vec::len), Some(8));
    assert_eq!(detail["attemptLog"][7]["httpStatus"], 500);
    assert_eq!(detail["body"], row.body.as_str());
    let missing = admin("/admin/notifications/nope")
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status(), 404);

    // Resend over HTTP: a new schedule, first attempt now.
    let resent = app
        .http
        .post(app.url(&format!("/admin/notifications/{}/resend", row.id)))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("send");
    assert_eq!(resent.status(), 200);
    assert_eq!(app.notifier.dispatch_due().await.expect("dispatch"), 1);
    let row = only_row(store).await;
    assert_eq!(row.status, NotificationStatus::Delivered);
    assert_eq!(row.attempts, 9);

    // The CLI over the same data directory.
    let cli = |args: &[&str]| {
        let out = crate::helpers::backflow()
            .args(args)
            .arg("--data-dir")
            .arg(app.data_dir.path())
            .output()
            .expect("run");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = cli(&["notifications", "list", "--status", "DELIVERED", "--json"]);
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(listed[0]["id"], row.id.as_str());
    assert_eq!(listed[0]["status"], "DELIVERED");
    let (ok, _, err) = cli(&["notifications", "resend", &row.id]);
    assert!(ok, "{err}");
    assert_eq!(only_row(store).await.status, NotificationStatus::Pending);
    let (ok, _, err) = cli(&["notifications", "resend", "no-such-id"]);
    assert!(!ok && err.contains("no notification"), "{err}");
    let (ok, _, err) = cli(&["notifications", "list", "--status", "LOST"]);
    assert!(!ok && err.contains("unknown status"), "{err}");

    // merchant set-notify-url validates the address like a request would.
    let live = app.another_merchant(false).await;
    let (ok, _, err) = cli(&[
        "merchant",
        "set-notify-url",
        "--merchant",
        &live.client_id,
        "http://127.0.0.1/n",
    ]);
    assert!(!ok && err.contains("loopback"), "{err}");
    let (ok, _, err) = cli(&[
        "merchant",
        "set-notify-url",
        "--merchant",
        &live.client_id,
        "https://user:pw@shop.example/n",
    ]);
    assert!(!ok && err.contains("user info"), "{err}");
    let (ok, _, err) = cli(&[
        "merchant",
        "set-notify-url",
        "--merchant",
        &live.client_id,
        "https://shop.example/n",
    ]);
    assert!(ok, "{err}");
    let live_id = ClientId::parse(live.client_id.clone()).expect("id");
    let stored = store
        .merchant(&live_id)
        .await
        .expect("db")
        .expect("merchant");
    assert_eq!(stored.notify_url.as_deref(), Some("https://shop.example/n"));
    let (ok, _, err) = cli(&[
        "merchant",
        "set-notify-url",
        "--merchant",
        &live.client_id,
        "--clear",
    ]);
    assert!(ok, "{err}");
    let stored = store
        .merchant(&live_id)
        .await
        .expect("db")
        .expect("merchant");
    assert_eq!(stored.notify_url, None);
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_delivery_then_restart_delivers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = Receiver::start(|_, nth| {
        if nth == 1 {
            Reply::Hang
        } else {
            Reply::Status(200, ACK)
        }
    })
    .await;
    let first = serve(dir.path());
    // Write the owed notification into the server's database, as the refund lifecycle would.
    let db = format!("sqlite://{}", dir.path().join("backflow.db").display());
    let store = Store::connect(&db).await.expect("store");
    let engine = backflow_engine::Engine::new(
        store.clone(),
        Arc::new(backflow_engine::clock::SystemClock),
        backflow_engine::channels::Channels::simulator(),
    );
    let creds: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("demo-merchant.json")).expect("credentials"),
    )
    .expect("json");
    let client = ClientId::parse(creds["clientId"].as_str().expect("client id")).expect("id");
    let mut tx = store.begin().await.expect("begin");
    let id = notices::new_notification_id();
    tx.insert_notification(&NewNotification {
        id: id.clone(),
        client_id: client.clone(),
        protocol: Door::Ams,
        kind: NotificationKind::RefundResult,
        subject_id: "refund-1".into(),
        url: receiver.url("/n"),
        body: r#"{"notifyType":"REFUND_RESULT","refundId":"refund-1"}"#.into(),
        created_at: engine.clock().now(),
    })
    .await
    .expect("insert");
    tx.commit().await.expect("commit");

    wait_for("the first attempt", Duration::from_secs(10), || {
        receiver.count() == 1
    })
    .await;
    drop(first); // SIGKILL while the receiver holds the attempt open
    let row = store.notification(&id).await.expect("db").expect("row");
    assert_eq!(row.status, NotificationStatus::Pending);
    assert!(row.claim_owner.is_some(), "the dead node's claim remains");

    let _second = serve(dir.path());
    wait_for(
        "the retry after the claim expired",
        Duration::from_secs(20),
        || receiver.count() >= 2,
    )
    .await;
    let mut row = store.notification(&id).await.expect("db").expect("row");
    let deadline = Instant::now() + Duration::from_secs(10);
    while row.status != NotificationStatus::Delivered && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        row = store.notification(&id).await.expect("db").expect("row");
    }
    assert_eq!(row.status, NotificationStatus::Delivered);
    assert_eq!(receiver.count(), 2, "exactly one retry");
    let log = store.notification_attempts(&id).await.expect("log");
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("abandoned")),
        "{log:?}"
    );
    assert_eq!(log[1].http_status, Some(200));
    verify_signature_with(&creds, &receiver.received()[1]);
}

fn verify_signature_with(creds: &Value, r: &Received) {
    let key = backflow_crypto::VerifyingKey::from_base64(
        creds["platformPublicKey"].as_str().expect("key"),
    )
    .expect("key");
    let sig = parse_signature_header(r.header("signature")).expect("signature");
    let content = signed_content(
        "POST",
        &r.path,
        r.header("client-id"),
        r.header("request-time"),
        r.body.as_bytes(),
    );
    assert!(key.verify_sha256(&content, &sig.signature));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_loop_delivers_and_stops_on_shutdown() {
    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    let receiver = Receiver::acking().await;
    let notifier = Notifier::new(
        app.engine.clone(),
        backflow_notify::NotifierConfig {
            poll_interval: Some(Duration::from_millis(50)),
            ..test_notifier_config()
        },
    )
    .expect("notifier");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(notifier.run(stopped));
    let s = subject(&app).await;
    s.owe_one(&app, &receiver).await;
    wait_for("the background delivery", Duration::from_secs(10), || {
        receiver.count() == 1
    })
    .await;
    stop.send(true).expect("stop");
    tokio::time::timeout(Duration::from_secs(5), worker)
        .await
        .expect("the loop stops on shutdown")
        .expect("join");
    let store = app.engine.store_for_tests();
    let mut row = only_row(store).await;
    for _ in 0..100 {
        if row.status == NotificationStatus::Delivered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        row = only_row(store).await;
    }
    assert_eq!(row.status, NotificationStatus::Delivered);
}
