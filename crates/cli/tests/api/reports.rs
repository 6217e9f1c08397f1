//! Day reports, reconciliation and settlement against the real server (docs/reports.md).

use crate::helpers::{
    code, on_both_backends, run_ok, spawn_app, spawn_app_with, Backend, TestApp, ADMIN_TOKEN,
};
use backflow_domain::ledger::PostingKind;
use backflow_domain::payment::{Door, ProductCode};
use backflow_domain::settlement::{BatchStatus, Day, SettlementCycle, SettlementTerms};
use backflow_domain::{
    CaptureRequestId, ClientId, Currency, Money, PaymentId, PaymentRequestId, RefundRequestId,
};
use backflow_engine::reports::{
    read_transaction_details, transaction_details_path, DayClose, Difference,
};
use backflow_engine::{CaptureCommand, EngineSettings, PayCommand, RefundCommand, RefundMode};
use backflow_store::RefundKey;
use proptest::prelude::*;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Settings that close days into DATA_DIR/reports, as `backflow serve` does.
fn closing_days(data_dir: &Path, settle: bool) -> EngineSettings {
    EngineSettings {
        day_close: Some(DayClose {
            reports_dir: data_dir.join("reports"),
            settle,
        }),
        ..EngineSettings::default()
    }
}

fn reports_dir(app: &TestApp) -> PathBuf {
    app.data_dir.path().join("reports")
}

fn merchant(app: &TestApp) -> ClientId {
    ClientId::parse(app.merchant.client_id.clone()).expect("client id")
}

fn usd() -> Currency {
    Currency::parse("USD").expect("USD")
}

/// Runs due jobs until `done` holds; the server's own scheduler may run them meanwhile.
async fn jobs_until<F, Fut>(app: &TestApp, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        app.engine.run_due_jobs().await.expect("jobs");
        if done().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the scheduled work did not finish");
}

/// A connection to the app's database from outside, as a tamperer's.
async fn outside(app: &TestApp) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(&app.database_url)
        .await
        .expect("connect")
}

/// Runs a statement on the app's database from outside; the rows it changed.
async fn tamper(app: &TestApp, sql: &str) -> u64 {
    let mut conn = outside(app).await;
    sqlx::query(sql)
        .execute(&mut conn)
        .await
        .expect("tamper")
        .rows_affected()
}

/// The CLI's storage flags for the app's database.
fn storage_flags(app: &TestApp) -> Vec<String> {
    vec!["--database-url".to_owned(), app.database_url.clone()]
}

async fn a_sandbox_day_is_reported_and_reconciles(backend: Backend) {
    let app = spawn_app_with(backend, |dir| closing_days(dir, false)).await;
    let m = merchant(&app);
    let day = Day::of(app.engine.clock().now());
    let p1 = app.paid_payment("USD", "10000").await;
    let p2 = app.paid_payment("USD", "5000").await;
    let evil = "damaged, \"very\"\n<END>\nsorry";
    let refunded = app
        .call(
            "refund",
            json!({"refundRequestId": "r-evil", "paymentId": p1,
                   "refundAmount": {"currency": "USD", "value": "1500"}, "refundReason": evil}),
        )
        .await;
    assert_eq!(code(&refunded).0, "SUCCESS", "{refunded}");
    app.engine
        .script_sandbox_refund(&m, "SUCCESS;reverse_after=60")
        .await
        .expect("script");
    app.refund(&p2, "r-reversed", "USD", "2000").await;
    app.engine
        .script_sandbox_refund(&m, "PROCESS_FAIL")
        .await
        .expect("script");
    app.refund(&p2, "r-failed", "USD", "1000").await;
    app.engine
        .script_sandbox_refund(&m, "REFUND_IN_PROCESS;delay=30")
        .await
        .expect("script");
    app.refund(&p1, "r-async", "USD", "500").await;
    app.clock.advance_millis(120_000);
    jobs_until(&app, || async {
        let key = |id: &str| RefundRequestId::parse(id).expect("id");
        let reversed = app
            .engine
            .store_for_tests()
            .refund(&m, RefundKey::RequestId(&key("r-reversed")))
            .await
            .expect("read");
        let done = app
            .engine
            .store_for_tests()
            .refund(&m, RefundKey::RequestId(&key("r-async")))
            .await
            .expect("read");
        reversed.is_some_and(|r| {
            matches!(
                r.state,
                backflow_domain::refund::RefundState::Reversed { .. }
            )
        }) && done.is_some_and(|r| r.status().is_final())
    })
    .await;

    let dir = reports_dir(&app);
    let generated = app
        .engine
        .generate_transaction_details(&dir, &m, day, |_| {})
        .await
        .expect("report");
    assert_eq!(generated.path, transaction_details_path(&dir, &m, day));
    assert_eq!(
        generated.rows, 6,
        "2 payments, 3 successful refunds, 1 reversal"
    );
    let text = std::fs::read_to_string(&generated.path).expect("read");
    assert!(text.ends_with("\n<END>\n"), "{text}");
    for kind in ["PAYMENT", "REFUND", "REFUND_REVERSAL"] {
        assert!(text.contains(&format!(",{kind},")), "{kind} row in {text}");
    }
    assert!(!text.contains("r-failed"), "a failed refund moved no money");
    // The reversal names its refund, and the reason survives whole.
    let reversal = text
        .lines()
        .find(|l| l.contains(",REFUND_REVERSAL,"))
        .expect("reversal row");
    assert!(reversal.contains(",r-reversed,"), "{reversal}");
    assert!(
        text.contains("\"damaged, \"\"very\"\"\n<END>\nsorry\""),
        "{text}"
    );
    let mut net = 0;
    read_transaction_details(&generated.path, |line| net += line.net_minor).expect("parse");
    assert_eq!(net, 10000 + 5000 - 1500 - 2000 - 500 + 2000);
    assert_eq!(
        app.engine
            .reconcile(&dir, day, Some(&m))
            .await
            .expect("reconcile"),
        Vec::<Difference>::new()
    );

    // Listed and downloaded through the admin API.
    let name = generated
        .path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let listed: serde_json::Value = app
        .http
        .get(app.url(&format!("/admin/reports/{m}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["reports"][0]["name"], name.as_str(), "{listed}");
    let download = app
        .http
        .get(app.url(&format!("/admin/reports/{m}/{name}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("download");
    assert_eq!(download.status(), 200);
    assert_eq!(download.text().await.expect("body"), text);
    let outside = app
        .http
        .get(app.url(&format!("/admin/reports/{m}/..%2Fbackflow.db")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("download");
    assert_eq!(outside.status(), 404);

    // And from the command line, as an operator would.
    let mut args: Vec<String> = [
        "reports",
        "generate",
        "--date",
        &day.to_string(),
        "--merchant",
        m.as_str(),
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(storage_flags(&app));
    let out = run_ok(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        app.data_dir.path(),
    );
    assert!(out.contains("6 rows"), "{out}");
    let mut args: Vec<String> = ["reconcile", "--date", &day.to_string(), "--json"]
        .map(str::to_owned)
        .to_vec();
    args.extend(storage_flags(&app));
    let out = run_ok(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        app.data_dir.path(),
    );
    let body: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(body["reconciled"], true, "{body}");
}
on_both_backends!(a_sandbox_day_is_reported_and_reconciles);

async fn a_scheduled_batch_pays_out_and_a_later_refund_meets_balance_not_enough(backend: Backend) {
    let app = spawn_app_with(backend, |dir| closing_days(dir, true)).await;
    let m = merchant(&app);
    app.engine.plan_day_close().await.expect("plan");
    let day = Day::of(app.engine.clock().now());
    let p = app.paid_payment("USD", "10000").await;
    // The day ends; the scheduler settles T+1 and reports the day.
    app.clock.set(day.plus(1).start().plus_millis(1_000));
    let settle_day = day.plus(1);
    jobs_until(&app, || async {
        let batches = app
            .engine
            .store_for_tests()
            .settlement_batches_on(settle_day, Some(&m))
            .await
            .expect("batches");
        batches.iter().any(|b| b.status == BatchStatus::Settled)
            && transaction_details_path(&reports_dir(&app), &m, day).exists()
    })
    .await;
    let batches = app
        .engine
        .store_for_tests()
        .settlement_batches_on(settle_day, Some(&m))
        .await
        .expect("batches");
    assert_eq!(batches.len(), 1, "{batches:?}");
    assert_eq!(batches[0].amount, Money::new(usd(), 10000));
    let available = app.engine.merchant_balances(&m).await.expect("balances");
    let available = available
        .iter()
        .find(|b| b.account.ends_with(":available") && b.currency == "USD")
        .expect("balance");
    assert_eq!(available.balance, 0, "the day's funds were paid out");

    let refused = app.refund(&p, "r-after-settlement", "USD", "1000").await;
    assert_eq!(code(&refused).0, "MERCHANT_BALANCE_NOT_ENOUGH", "{refused}");

    let dir = reports_dir(&app);
    assert!(app
        .engine
        .reconcile(&dir, day, Some(&m))
        .await
        .expect("reconcile")
        .is_empty());
    app.engine
        .generate_transaction_details(&dir, &m, settle_day, |_| {})
        .await
        .expect("report");
    assert_eq!(
        app.engine
            .reconcile(&dir, settle_day, Some(&m))
            .await
            .expect("reconcile"),
        Vec::<Difference>::new(),
        "the batch's amount is its funds and its posting"
    );
    // Once a day: the close is planned for the next day, not run again.
    assert_eq!(
        app.engine
            .run_settlement(settle_day, Some(&m))
            .await
            .expect("settle")[0]
            .id,
        batches[0].id
    );
}
on_both_backends!(a_scheduled_batch_pays_out_and_a_later_refund_meets_balance_not_enough);

async fn a_batch_the_balance_cannot_cover_waits_for_funds(backend: Backend) {
    let app = spawn_app(backend).await;
    let m = merchant(&app);
    app.engine
        .set_settlement_terms(
            &m,
            SettlementTerms {
                cycle: SettlementCycle::Daily { lag_days: 2 },
                minimum_minor: 0,
            },
        )
        .await
        .expect("terms");
    let day = Day::of(app.engine.clock().now());
    let p = app.paid_payment("USD", "10000").await;
    app.clock.set(day.plus(1).start().plus_millis(3_600_000));
    let refunded = app.refund(&p, "r-next-day", "USD", "7000").await;
    assert_eq!(code(&refunded).0, "SUCCESS", "{refunded}");
    app.clock.set(day.plus(2).start().plus_millis(3_600_000));

    let waiting = app
        .engine
        .run_settlement(day.plus(2), Some(&m))
        .await
        .expect("settle");
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].status, BatchStatus::WaitingFunds);
    assert_eq!(
        waiting[0].amount.minor, 10000,
        "day T's funds, whatever came after"
    );
    let again = app
        .engine
        .run_settlement(day.plus(2), Some(&m))
        .await
        .expect("settle");
    assert_eq!(
        (again.len(), again[0].id.as_str()),
        (1, waiting[0].id.as_str())
    );

    app.engine
        .move_merchant_funds(&m, Money::new(usd(), 10000), PostingKind::Funding, "top-up")
        .await
        .expect("fund");
    app.clock.set(day.plus(3).start().plus_millis(3_600_000));
    let next = app
        .engine
        .run_settlement(day.plus(3), Some(&m))
        .await
        .expect("settle");
    assert_eq!(
        next.len(),
        1,
        "day T+1 nets -70.00 and is carried over: {next:?}"
    );
    assert_eq!(
        (next[0].id.as_str(), next[0].status),
        (waiting[0].id.as_str(), BatchStatus::Settled)
    );
    let balances = app.engine.merchant_balances(&m).await.expect("balances");
    let available = balances
        .iter()
        .find(|b| b.account.ends_with(":available"))
        .expect("balance");
    assert_eq!(available.balance, 10000 - 7000 + 10000 - 10000);
    let differences = app
        .engine
        .reconcile(&reports_dir(&app), day.plus(2), Some(&m))
        .await
        .expect("reconcile");
    assert!(
        differences
            .iter()
            .all(|d| matches!(d, Difference::ReportMissing { .. })),
        "{differences:?}"
    );
}
on_both_backends!(a_batch_the_balance_cannot_cover_waits_for_funds);

async fn funds_below_the_minimum_are_carried_over(backend: Backend) {
    let app = spawn_app(backend).await;
    let m = merchant(&app);
    app.engine
        .set_settlement_terms(
            &m,
            SettlementTerms {
                cycle: SettlementCycle::Daily { lag_days: 1 },
                minimum_minor: 20000,
            },
        )
        .await
        .expect("terms");
    let day = Day::of(app.engine.clock().now());
    app.paid_payment("USD", "10000").await;
    app.clock.set(day.plus(1).start().plus_millis(3_600_000));
    assert!(app
        .engine
        .run_settlement(day.plus(1), Some(&m))
        .await
        .expect("settle")
        .is_empty());
    app.paid_payment("USD", "15000").await;
    app.clock.set(day.plus(2).start().plus_millis(3_600_000));
    let batches = app
        .engine
        .run_settlement(day.plus(2), Some(&m))
        .await
        .expect("settle");
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].amount.minor, 25000, "both days' funds");
    assert_eq!(batches[0].covers_to, day.plus(2).start());
    assert!(app
        .engine
        .reconcile(&reports_dir(&app), day.plus(2), Some(&m))
        .await
        .expect("reconcile")
        .iter()
        .all(|d| matches!(d, Difference::ReportMissing { .. })));
}
on_both_backends!(funds_below_the_minimum_are_carried_over);

#[derive(Debug, Clone)]
enum Op {
    /// A legacy payment's refunds are asynchronous and wait for funds the merchant lacks.
    Pay {
        authorise: bool,
        legacy: bool,
        amount: i64,
    },
    Capture {
        payment: usize,
        amount: i64,
    },
    Refund {
        payment: usize,
        amount: i64,
        script: usize,
    },
    Advance {
        seconds: i64,
    },
}

/// Sync, async, failed, waiting and reversed refunds.
const SCRIPTS: &[Option<&str>] = &[
    None,
    Some("REFUND_IN_PROCESS;delay=10"),
    Some("UNKNOWN_EXCEPTION;delay=10;then=PROCESS_FAIL"),
    Some("SUCCESS;reverse_after=20"),
    Some("PROCESS_FAIL"),
    Some("MERCHANT_BALANCE_NOT_ENOUGH"),
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<bool>(), any::<bool>(), 1i64..5_000).prop_map(|(authorise, legacy, amount)| {
            Op::Pay {
                authorise: authorise && !legacy,
                legacy,
                amount,
            }
        }),
        (0usize..8, 1i64..3_000).prop_map(|(payment, amount)| Op::Capture { payment, amount }),
        (0usize..8, 1i64..3_000, 0..SCRIPTS.len()).prop_map(|(payment, amount, script)| {
            Op::Refund {
                payment,
                amount,
                script,
            }
        }),
        (1i64..120).prop_map(|seconds| Op::Advance { seconds }),
    ]
}

/// Refunds waiting for funds: each keeps its retry job.
async fn waiting_refunds(app: &TestApp) -> i64 {
    let mut conn = outside(app).await;
    sqlx::query_scalar("SELECT COUNT(*) FROM refunds WHERE status = 'WAITING_FUNDS'")
        .fetch_one(&mut conn)
        .await
        .expect("count")
}

/// Adds one minor unit to the first row's settlement amount.
fn bump_first_row(path: &Path) {
    let text = std::fs::read_to_string(path).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut fields: Vec<String> = lines[1].split(',').map(str::to_owned).collect();
    let c = Currency::parse(&fields[17]).expect("currency");
    let (sign, digits) = match fields[16].strip_prefix('-') {
        Some(d) => (-1, d.to_owned()),
        None => (1, fields[16].clone()),
    };
    let minor = sign * Money::parse_major(c, &digits).expect("amount").minor;
    fields[16] = Money::new(c, minor + 1).major_string();
    lines[1] = fields.join(",");
    std::fs::write(path, lines.join("\n") + "\n").expect("write");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Random days reconcile, and stop reconciling when one ledger leg or one report row changes.
    #[test]
    fn random_days_reconcile_until_a_leg_or_a_row_changes(ops in prop::collection::vec(op(), 5..30)) {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let app = spawn_app(Backend::Sqlite).await;
            let engine = &app.engine;
            let m = merchant(&app);
            let day = Day::of(engine.clock().now());
            let mut payments: Vec<(PaymentId, Door)> = Vec::new();
            let first = std::iter::once(Op::Pay { authorise: false, legacy: false, amount: 4_000 });
            for (i, op) in first.chain(ops.iter().cloned()).enumerate() {
                match op {
                    Op::Pay { authorise, legacy, amount } => {
                        let door = if legacy { Door::Legacy } else { Door::Ams };
                        let paid = engine.pay(PayCommand {
                            merchant: m.clone(),
                            door,
                            request_id: PaymentRequestId::parse(format!("p{i}")).expect("id"),
                            amount: Money::new(usd(), amount),
                            method_type: if authorise { "CARD" } else { "GCASH" }.into(),
                            product_code: ProductCode::Agreement,
                            is_authorization: authorise,
                            settlement_currency: None,
                            notify_url: None,
                        }).await;
                        if let Ok(p) = paid {
                            payments.push((p.id, door));
                        }
                    }
                    Op::Capture { payment, amount } => {
                        if let Some((id, _)) = payments.get(payment) {
                            let _ = engine.capture(CaptureCommand {
                                merchant: m.clone(),
                                request_id: CaptureRequestId::parse(format!("c{i}")).expect("id"),
                                payment_id: id.clone(),
                                amount: Money::new(usd(), amount),
                                is_last: false,
                            }).await;
                        }
                    }
                    Op::Refund { payment, amount, script } => {
                        if let Some((id, door)) = payments.get(payment) {
                            let mode = match door {
                                Door::Ams => RefundMode::Ams,
                                Door::Legacy => RefundMode::LegacyAsync,
                            };
                            if let Some(s) = SCRIPTS[script] {
                                engine.script_sandbox_refund(&m, s).await.expect("script");
                            }
                            let _ = engine.refund(RefundCommand {
                                merchant: m.clone(),
                                request_id: RefundRequestId::parse(format!("r{i}")).expect("id"),
                                payment_id: id.clone(),
                                amount: Money::new(usd(), amount),
                                reason: Some(format!("reason, \"{i}\"")),
                                notify_url: None,
                                mode,
                            }).await;
                        }
                    }
                    Op::Advance { seconds } => {
                        app.clock.advance_millis(seconds * 1000);
                        engine.run_due_jobs().await.expect("jobs");
                    }
                }
            }
            // Async refunds and reversals finish; refunds waiting for funds go on waiting.
            app.clock.advance_millis(600_000);
            jobs_until(&app, || async {
                let due = engine.store_for_tests().pending_job_count().await.expect("count");
                due == waiting_refunds(&app).await
            }).await;
            assert_eq!(Day::of(engine.clock().now()), day, "the day is not over yet");

            let dir = reports_dir(&app);
            let report = engine.generate_transaction_details(&dir, &m, day, |_| {}).await.expect("report");
            let reconcile = || engine.reconcile(&dir, day, Some(&m));
            assert_eq!(reconcile().await.expect("reconcile"), Vec::<Difference>::new());

            // One ledger leg changes: the day no longer adds up, and the difference names the payment.
            let leg = format!(
                "UPDATE ledger_legs SET amount = amount + 1 WHERE account = 'merchant:{m}:available' AND posting_id = \
                 (SELECT MIN(p.posting_id) FROM ledger_postings p WHERE p.kind = 'PAYMENT_RECEIVED' AND p.reference = '{}')",
                payments[0].0
            );
            assert_eq!(tamper(&app, &leg).await, 1);
            let differences = reconcile().await.expect("reconcile");
            let named = differences.iter().any(|d| matches!(d,
                Difference::DayTotal { references, .. } if references.iter().any(|(r, _, _)| r == payments[0].0.as_str())));
            assert!(named, "{differences:?}");
            tamper(&app, &leg.replace("amount + 1", "amount - 1")).await;
            assert!(reconcile().await.expect("reconcile").is_empty());

            // One report row changes: the same.
            bump_first_row(&report.path);
            let differences = reconcile().await.expect("reconcile");
            assert!(matches!(differences.as_slice(), [Difference::DayTotal { .. }]), "{differences:?}");
        });
    }
}
