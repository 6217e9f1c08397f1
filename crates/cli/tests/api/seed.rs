//! `backflow seed`, run as a user would, then checked in the database and by `ledger check`.

use crate::helpers::{backflow, fresh_postgres_database, on_both_backends, Backend};
use sqlx::{AnyConnection, Connection, Row};
use std::path::Path;

/// Runs `backflow ARGS` on the test's storage; its standard output.
fn run(args: &[&str], dir: &Path, database_url: Option<&str>) -> String {
    let mut cmd = backflow();
    cmd.args(args).arg("--data-dir").arg(dir);
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    let out = cmd.output().expect("run backflow");
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn count(conn: &mut AnyConnection, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .try_get::<i64, _>(0)
        .expect("count")
}

async fn seeded_data_is_complete_and_balanced(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_database().await),
    };
    let url = database_url.as_deref();
    run(
        &[
            "merchant",
            "create",
            "--name",
            "Seeded shop",
            "--client-id",
            "SANDBOX_SEEDED",
            "--commission-bps",
            "250",
            "--commission-refund",
            "proportional",
        ],
        d,
        url,
    );
    let out = run(
        &[
            "seed",
            "--merchant",
            "SANDBOX_SEEDED",
            "--payments",
            "3000",
            "--refunds-per-payment",
            "0.5",
            "--days",
            "20",
            "--rng-seed",
            "7",
        ],
        d,
        url,
    );
    assert!(out.starts_with("seeded 3000 payments and "), "{out}");
    let check = run(&["ledger", "check"], d, url);
    assert!(check.starts_with("ledger ok"), "{check}");

    sqlx::any::install_default_drivers();
    let db = url.map_or_else(
        || format!("sqlite://{}", d.join("backflow.db").display()),
        str::to_owned,
    );
    let mut conn = AnyConnection::connect(&db).await.expect("connect");
    assert_eq!(
        count(&mut conn, "SELECT COUNT(*) FROM payments").await,
        3000
    );
    let refunds = count(&mut conn, "SELECT COUNT(*) FROM refunds").await;
    // About one refund for every two successful payments; a few are refused by the rules.
    assert!((1_000..1_600).contains(&refunds), "{refunds} refunds");
    for state in ["SUCCESS", "FAIL", "PROCESSING", "WAITING_FUNDS"] {
        let n = count(
            &mut conn,
            &format!("SELECT COUNT(*) FROM refunds WHERE status = '{state}'"),
        )
        .await;
        assert!(n > 0, "no {state} refund");
    }
    let reversed = count(
        &mut conn,
        "SELECT COUNT(*) FROM refunds WHERE reversed_at IS NOT NULL AND status = 'SUCCESS'",
    )
    .await;
    assert!(reversed > 0, "no reversed refund");
    let currencies = count(&mut conn, "SELECT COUNT(DISTINCT currency) FROM payments").await;
    assert!(currencies >= 6, "{currencies} currencies");
    let methods = count(
        &mut conn,
        "SELECT COUNT(DISTINCT method_type) FROM payments",
    )
    .await;
    assert!(methods >= 5, "{methods} methods");
    let fx = count(
        &mut conn,
        "SELECT COUNT(*) FROM payments WHERE currency <> settlement_currency",
    )
    .await;
    assert!(fx > 0, "no payment settled through FX");
    let legacy = count(
        &mut conn,
        "SELECT COUNT(*) FROM payments WHERE door = 'LEGACY'",
    )
    .await;
    assert!(legacy > 0, "no legacy payment");
    // Every successful payment, and every refund that held funds, posted to the ledger.
    let unposted = count(
        &mut conn,
        "SELECT COUNT(*) FROM payments p WHERE p.status = 'SUCCESS' AND NOT EXISTS \
         (SELECT 1 FROM ledger_postings l WHERE l.reference = p.payment_id AND l.kind = 'PAYMENT_RECEIVED')",
    )
    .await;
    assert_eq!(unposted, 0);
    let unreserved = count(
        &mut conn,
        "SELECT COUNT(*) FROM refunds r WHERE r.status <> 'WAITING_FUNDS' AND NOT EXISTS \
         (SELECT 1 FROM ledger_postings l WHERE l.reference = r.refund_id AND l.kind = 'REFUND_RESERVED')",
    )
    .await;
    assert_eq!(unreserved, 0);
    // Refunds not final yet are finished by the scheduler: each has its job.
    let jobless = count(
        &mut conn,
        "SELECT COUNT(*) FROM refunds r WHERE r.status IN ('PROCESSING', 'WAITING_FUNDS') AND NOT EXISTS \
         (SELECT 1 FROM jobs j WHERE j.subject = r.refund_id)",
    )
    .await;
    assert_eq!(jobless, 0);
    conn.close().await.expect("close");

    // A second run adds to the first, and the ledger still balances.
    let again = run(
        &["seed", "--merchant", "SANDBOX_SEEDED", "--payments", "500"],
        d,
        url,
    );
    assert!(again.starts_with("seeded 500 payments"), "{again}");
    let check = run(&["ledger", "check"], d, url);
    assert!(check.starts_with("ledger ok"), "{check}");
}
on_both_backends!(seeded_data_is_complete_and_balanced);

#[test]
fn seeding_an_unknown_merchant_fails_with_a_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = backflow()
        .args([
            "seed",
            "--merchant",
            "NOBODY",
            "--payments",
            "10",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("merchant"), "{stderr}");
}
