//! What a production deployment must not inherit from the demo.

use crate::helpers::{
    backflow, code, fresh_postgres_database, on_both_backends, pay_body, run_ok, spawn_app,
    spawn_app_with, Backend, ADMIN_TOKEN,
};
use backflow_domain::ledger::PostingKind;
use backflow_domain::merchant::Contract;
use backflow_domain::Clock;
use backflow_domain::{ClientId, Currency, Money};
use backflow_engine::{job_backoff_ms, Deployment, EngineSettings, MerchantSpec, MAX_JOB_FAILURES};
use serde_json::Value;

/// A merchant's balances are its own, though another id differs only where
/// its own has a `_` (a wildcard in SQL patterns).
async fn balances_match_the_merchant_exactly(backend: Backend) {
    let app = spawn_app(backend).await;
    let usd = Currency::parse("USD").expect("USD");
    for id in ["SANDBOX_M1", "SANDBOXXM1"] {
        app.engine
            .create_merchant(MerchantSpec {
                name: id.into(),
                client_id: Some(id.into()),
                sandbox: true,
                ..MerchantSpec::default()
            })
            .await
            .expect("merchant");
        app.engine
            .move_merchant_funds(
                &ClientId::parse(id).expect("id"),
                Money::new(usd, 100),
                PostingKind::Funding,
                "top-up",
            )
            .await
            .expect("fund");
    }
    let own = app
        .engine
        .merchant_balances(&ClientId::parse("SANDBOX_M1").expect("id"))
        .await
        .expect("balances");
    let accounts: Vec<&str> = own.iter().map(|b| b.account.as_str()).collect();
    assert_eq!(accounts, ["merchant:SANDBOX_M1:available"]);
}
on_both_backends!(balances_match_the_merchant_exactly);

/// Runs `sql` on the app's database behind its back; the error when the database refuses it.
async fn raw(app: &crate::helpers::TestApp, sql: &str) -> Result<(), sqlx::Error> {
    raw_at(&app.database_url, sql).await
}

async fn raw_at(url: &str, sql: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await?;
    let outcome = sqlx::query(sql).execute(&mut conn).await.map(drop);
    conn.close().await?;
    outcome
}

async fn count(url: &str, table: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(url).await.expect("connect");
    let n = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&mut conn)
        .await
        .expect("count");
    conn.close().await.expect("close");
    n
}

/// Readiness is one cheap query: it does not read (or trip over) the merchants.
async fn readiness_asks_the_database_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let readyz = || async {
        let resp = app.http.get(app.url("/readyz")).send().await.expect("get");
        (resp.status().as_u16(), resp.text().await.expect("body"))
    };
    assert_eq!(readyz().await, (200, "ready".to_owned()));
    raw(
        &app,
        "UPDATE merchants SET settlement_currency = 'not a currency'",
    )
    .await
    .expect("update");
    assert_eq!(readyz().await, (200, "ready".to_owned()));
}
on_both_backends!(readiness_asks_the_database_once);

/// The demo rates are the sandbox's: a production deployment settles across
/// currencies only at rates it imported, and answers without one as it must.
async fn demo_rates_are_for_the_sandbox_only(backend: Backend) {
    let sandbox = spawn_app(backend).await;
    assert!(
        sandbox
            .engine
            .store_for_tests()
            .fx_rate_count()
            .await
            .expect("count")
            > 0
    );
    let app = spawn_app_with(backend, |_| EngineSettings {
        deployment: Deployment::Production,
        refund_channel: Some("simulator".into()),
        ..EngineSettings::default()
    })
    .await;
    assert_eq!(
        app.engine
            .store_for_tests()
            .fx_rate_count()
            .await
            .expect("count"),
        0
    );
    let merchant = ClientId::parse(app.merchant.client_id.clone()).expect("id");
    app.engine
        .set_contract(
            &merchant,
            Some(Currency::parse("USD").expect("USD")),
            &Contract::default(),
        )
        .await
        .expect("contract");
    let pay = |value: &'static str| {
        app.call(
            "pay",
            pay_body("GCASH", "AGREEMENT_PAYMENT", "SGD", value, false),
        )
    };
    assert_eq!(code(&pay("1000").await), ("CURRENCY_NOT_SUPPORT", "F"));
    app.engine
        .import_fx_rates("2020-01-01,SGD/USD,0.74")
        .await
        .expect("import");
    assert_eq!(code(&pay("1000").await), ("SUCCESS", "S"));
}
on_both_backends!(demo_rates_are_for_the_sandbox_only);

/// A job that fails on every run waits longer after each failure, is dead
/// after the last one, and runs again only when an operator retries it.
async fn failing_jobs_back_off_then_die(backend: Backend) {
    let app = spawn_app(backend).await;
    let store = app.engine.store_for_tests();
    let mut tx = store.begin().await.expect("begin");
    let now = app.clock.now();
    tx.insert_job("job-1", "NO_SUCH_KIND", "nothing", "", now, now)
        .await
        .expect("job")
        .must_be_new()
        .expect("a new job");
    tx.commit().await.expect("commit");
    let job = || async { store.jobs(false).await.expect("jobs").remove(0) };
    // The server's own scheduler pass may claim a due job before this test's
    // does; either pass records the failure, so wait for the record itself.
    let failed_times = |n: i64| async move {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let j = job().await;
            if j.failures >= n || std::time::Instant::now() > deadline {
                return j;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    for failures in 1..=MAX_JOB_FAILURES {
        assert_eq!(app.engine.run_due_jobs().await.expect("run"), 0);
        let failed = failed_times(failures).await;
        assert_eq!(failed.failures, failures);
        if failures == MAX_JOB_FAILURES {
            assert!(failed.dead);
            break;
        }
        assert!(!failed.dead);
        let wait = job_backoff_ms(failures);
        assert_eq!(failed.run_at, app.clock.now().plus_millis(wait));
        // Not before its backoff is over.
        app.clock.advance_millis(wait - 1);
        app.engine.run_due_jobs().await.expect("run");
        assert_eq!(job().await.failures, failures);
        app.clock.advance_millis(1);
    }
    assert_eq!(job_backoff_ms(1), 60_000);
    assert_eq!(job_backoff_ms(2), 120_000);
    assert_eq!(job_backoff_ms(MAX_JOB_FAILURES), 3_600_000);
    // Dead: no pass runs it, however late.
    app.clock.advance_millis(30 * 86_400_000);
    app.engine.run_due_jobs().await.expect("run");
    assert_eq!(job().await.failures, MAX_JOB_FAILURES);

    // The operator's view: the CLI and the admin API list it, and retry it.
    let url = app.database_url.clone();
    let listed = run_ok(
        &["jobs", "list", "--dead", "--database-url", &url],
        app.data_dir.path(),
    );
    assert!(
        listed.contains("job-1") && listed.contains("DEAD"),
        "{listed}"
    );
    assert!(listed.contains("unknown job kind"), "{listed}");
    let admin = |method: reqwest::Method, path: &str| {
        app.http
            .request(method, app.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    let dead: Value = admin(reqwest::Method::GET, "/admin/jobs?dead=true")
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(dead["jobs"][0]["id"], "job-1");
    assert_eq!(dead["jobs"][0]["status"], "DEAD");
    let missing = admin(reqwest::Method::POST, "/admin/jobs/job-2/retry")
        .await
        .expect("retry");
    assert_eq!(missing.status(), 404);
    let retried = admin(reqwest::Method::POST, "/admin/jobs/job-1/retry")
        .await
        .expect("retry");
    assert_eq!(retried.status(), 200);
    assert!(store.jobs(true).await.expect("dead").is_empty());
    let back = job().await;
    assert_eq!((back.dead, back.failures), (false, 0));
    assert_eq!(app.engine.run_due_jobs().await.expect("run"), 0);
    assert_eq!(job().await.failures, 1);
    // Retrying it again from the CLI is refused: it is not dead.
    let out = backflow()
        .args(["jobs", "retry", "job-1", "--database-url", &url])
        .arg("--data-dir")
        .arg(app.data_dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no dead job job-1"));
}
on_both_backends!(failing_jobs_back_off_then_die);

/// A production server names where refunds go, or does not start; a contract
/// may name only a channel the deployment has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_names_its_refund_channel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = backflow()
        .args([
            "serve",
            "--deployment",
            "production",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("BACKFLOW_REFUND_CHANNEL")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("must name its refund channel"), "{err}");

    let app = spawn_app(Backend::Sqlite).await;
    let merchant = ClientId::parse(app.merchant.client_id.clone()).expect("id");
    let contract = |channel: &str| Contract {
        refund_channel: Some(channel.into()),
        ..Contract::default()
    };
    let refused = app
        .engine
        .set_contract(&merchant, None, &contract("wire"))
        .await;
    assert!(
        matches!(&refused, Err(backflow_engine::EngineError::Invalid(e)) if e.contains("unknown refund channel")),
        "{refused:?}"
    );
    app.engine
        .set_contract(&merchant, None, &contract("simulator"))
        .await
        .expect("contract");
    let stored = app
        .engine
        .store_for_tests()
        .merchant(&merchant)
        .await
        .expect("db")
        .expect("merchant");
    assert_eq!(stored.contract.refund_channel.as_deref(), Some("simulator"));
    let payment = app.paid_payment("USD", "100").await;
    assert_eq!(
        code(&app.refund(&payment, "r1", "USD", "1").await),
        ("SUCCESS", "S")
    );
}

/// The rows of a database made before the CHECK constraints are all there
/// after it migrates, and the database refuses negative amounts and unknown
/// states from then on.
async fn checks_keep_rows_and_refuse_nonsense(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("old.db").display()),
        Backend::Postgres => fresh_postgres_database().await,
    };
    // The schema as it was before: the migrations up to 0003 only.
    let old = dir.path().join("migrations");
    std::fs::create_dir(&old).expect("dir");
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../store/migrations");
    for name in [
        "0001_initial.sql",
        "0002_notifications.sql",
        "0003_no_running_balance_without_floor.sql",
    ] {
        std::fs::copy(all.join(name), old.join(name)).expect("copy");
    }
    {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let create = match backend {
            Backend::Sqlite => format!("{url}?mode=rwc"),
            Backend::Postgres => url.clone(),
        };
        let mut conn = sqlx::AnyConnection::connect(&create)
            .await
            .expect("connect");
        sqlx::migrate::Migrator::new(old.as_path())
            .await
            .expect("migrator")
            .run(&mut conn)
            .await
            .expect("old migrations");
        conn.close().await.expect("close");
    }
    for sql in [
        "INSERT INTO merchants (client_id, name, legacy_partner_id, legacy_md5_key, platform_private_key, created_at) \
         VALUES ('M1', 'Shop', '2088000000000001', 'k', 'key', 1)",
        "INSERT INTO payments (payment_id, client_id, door, payment_request_id, currency, amount, method_type, product_code, \
         status, is_authorization, captured, capture_closed, settlement_currency, settled, commission, chargeback_pending, created_at, paid_at) \
         VALUES ('P1', 'M1', 'AMS', 'pay-1', 'USD', 1000, 'CARD', 'CASHIER_PAYMENT', 'SUCCESS', 1, 600, 0, 'USD', 600, 0, 0, 1, 1)",
        "INSERT INTO captures (capture_id, client_id, capture_request_id, payment_id, currency, amount, created_at) \
         VALUES ('C1', 'M1', 'cap-1', 'P1', 'USD', 600, 1)",
        "INSERT INTO refunds (refund_id, client_id, refund_request_id, payment_id, currency, amount, status, notify_on_final, \
         held_currency, held, commission_returned, created_at) VALUES ('R1', 'M1', 'ref-1', 'P1', 'USD', 100, 'PROCESSING', 0, 'USD', 100, 0, 1)",
        "INSERT INTO notifications (notification_id, client_id, protocol, kind, subject_id, url, body, status, attempts, \
         round_attempts, next_attempt_at, created_at) VALUES ('N1', 'M1', 'AMS', 'REFUND_RESULT', 'R1', 'https://m.example/n', '{}', 'PENDING', 1, 1, 1, 1)",
        "INSERT INTO notification_attempts (notification_id, attempt_no, attempted_at, http_status, latency_ms) VALUES ('N1', 1, 1, 500, 20)",
        "INSERT INTO jobs (job_id, kind, subject, payload, run_at, attempts, created_at) VALUES ('J1', 'COMPLETE_REFUND', 'R1', 'SUCCESS', 5, 2, 1)",
    ] {
        raw_at(&url, sql).await.expect(sql);
    }

    let store = backflow_store::Store::connect(&url).await.expect("migrate");
    for table in [
        "merchants",
        "payments",
        "captures",
        "refunds",
        "notifications",
        "notification_attempts",
        "jobs",
    ] {
        assert_eq!(count(&url, table).await, 1, "{table}");
    }
    let jobs = store.jobs(false).await.expect("jobs");
    assert_eq!(
        (
            jobs[0].id.as_str(),
            jobs[0].attempts,
            jobs[0].failures,
            jobs[0].dead
        ),
        ("J1", 2, 0, false)
    );
    let merchant = store
        .merchant(&ClientId::parse("M1").expect("id"))
        .await
        .expect("db")
        .expect("merchant");
    assert_eq!(merchant.contract.refund_channel, None);
    store.close().await;

    // What the constraints refuse; the foreign keys still hold.
    for sql in [
        "UPDATE payments SET amount = -1",
        "UPDATE payments SET captured = 1001",
        "UPDATE payments SET status = 'LOST'",
        "UPDATE payments SET door = 'FAX'",
        "UPDATE captures SET amount = -5",
        "UPDATE refunds SET amount = -100",
        "UPDATE refunds SET held = -1",
        "UPDATE refunds SET status = 'MAYBE'",
        "UPDATE notifications SET status = 'LOST'",
        "UPDATE notifications SET protocol = 'SMTP'",
        "UPDATE jobs SET status = 'GONE'",
        "UPDATE jobs SET failures = -1",
        "INSERT INTO refunds (refund_id, client_id, refund_request_id, payment_id, currency, amount, status, notify_on_final, \
         held_currency, held, commission_returned, created_at) VALUES ('R2', 'M1', 'ref-2', 'NO_SUCH', 'USD', 1, 'PROCESSING', 0, 'USD', 1, 0, 1)",
    ] {
        assert!(raw_at(&url, sql).await.is_err(), "{sql} must be refused");
    }
    raw_at(&url, "UPDATE refunds SET status = 'SUCCESS', settled = 100")
        .await
        .expect("a known state");
}
on_both_backends!(checks_keep_rows_and_refuse_nonsense);
