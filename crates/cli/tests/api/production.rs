//! What a production deployment must not inherit from the demo.

use crate::helpers::{on_both_backends, spawn_app, Backend};
use backflow_domain::ledger::PostingKind;
use backflow_domain::{ClientId, Currency, Money};
use backflow_engine::MerchantSpec;

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
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.database_url).await?;
    let outcome = sqlx::query(sql).execute(&mut conn).await.map(drop);
    conn.close().await?;
    outcome
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
