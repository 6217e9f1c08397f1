//! What a production deployment must not inherit from the demo.

use crate::helpers::{code, on_both_backends, pay_body, spawn_app, spawn_app_with, Backend};
use backflow_domain::ledger::PostingKind;
use backflow_domain::merchant::Contract;
use backflow_domain::{ClientId, Currency, Money};
use backflow_engine::{Deployment, EngineSettings, MerchantSpec};

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

/// The demo rates are the sandbox's: a production deployment settles across
/// currencies only at rates it imported, and answers without one as it must.
async fn demo_rates_are_for_the_sandbox_only(backend: Backend) {
    let sandbox = spawn_app(backend).await;
    assert!(sandbox.engine.store().fx_rate_count().await.expect("count") > 0);
    let app = spawn_app_with(
        backend,
        EngineSettings {
            deployment: Deployment::Production,
            ..EngineSettings::default()
        },
    )
    .await;
    assert_eq!(app.engine.store().fx_rate_count().await.expect("count"), 0);
    let merchant = ClientId::parse(app.merchant.client_id.clone()).expect("id");
    app.engine
        .set_contract(
            &merchant,
            Some(Currency::parse("USD").expect("USD")),
            &Contract::default(),
        )
        .await
        .expect("contract");
    let pay = |value: &'static str| app.call("pay", pay_body("GCASH", "AGREEMENT_PAYMENT", "SGD", value, false));
    assert_eq!(code(&pay("1000").await), ("CURRENCY_NOT_SUPPORT", "F"));
    app.engine
        .import_fx_rates("2020-01-01,SGD/USD,0.74")
        .await
        .expect("import");
    assert_eq!(code(&pay("1000").await), ("SUCCESS", "S"));
}
on_both_backends!(demo_rates_are_for_the_sandbox_only);
