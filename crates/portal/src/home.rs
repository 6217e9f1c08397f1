//! Home: balances per currency and the last 30 days of refunds.

use crate::auth::{session, Failure, Page};
use crate::chart;
use crate::format::money;
use crate::html;
use crate::pages::{BalanceLine, DayLine, HomePage};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use backflow_domain::{Currency, Money, Timestamp};
use backflow_engine::Engine;
use backflow_store::RefundDay;

/// Days the chart covers.
const DAYS: i64 = 30;

fn shown(currency: &str, minor: i64) -> String {
    Currency::parse(currency)
        .map(|c| money(Money::new(c, minor)))
        .unwrap_or_else(|_| format!("{minor} {currency}"))
}

fn rate(succeeded: i64, count: i64) -> String {
    match count {
        0 => "-".into(),
        n => format!("{}%", succeeded * 100 / n),
    }
}

/// Every one of the last `DAYS` days, empty ones too, oldest first.
fn every_day(engine: &Engine, days: &[RefundDay], offset_minutes: i64) -> Vec<RefundDay> {
    let today =
        (engine.clock().now().millis() + offset_minutes * 60_000).div_euclid(Timestamp::MS_PER_DAY);
    (today - DAYS + 1..=today)
        .map(|day| {
            days.iter()
                .find(|d| d.day == day)
                .cloned()
                .unwrap_or(RefundDay {
                    day,
                    count: 0,
                    succeeded: 0,
                })
        })
        .collect()
}

pub(crate) async fn home(State(engine): State<Engine>, headers: HeaderMap) -> Page {
    let signed = session(&engine, &headers).await?;
    let merchant = &signed.session.user.merchant;
    let balances = engine
        .portal_balances(merchant)
        .await?
        .into_iter()
        .map(|b| BalanceLine {
            available: shown(&b.currency, b.available),
            reserved: shown(&b.currency, b.reserved),
            currency: b.currency,
        })
        .collect();
    let minutes = signed.zone.minutes;
    let days = every_day(
        &engine,
        &engine.portal_refund_days(merchant, DAYS, minutes).await?,
        minutes,
    );
    let total = days.iter().map(|d| d.count).sum();
    let succeeded = days.iter().map(|d| d.succeeded).sum();
    html(&HomePage {
        chrome: signed.chrome(),
        days: days
            .iter()
            .map(|d| DayLine {
                date: signed
                    .zone
                    .date(Timestamp(d.day * Timestamp::MS_PER_DAY - minutes * 60_000)),
                count: d.count,
                success_rate: rate(d.succeeded, d.count),
            })
            .collect(),
        balances,
        total,
        success_rate: rate(succeeded, total),
    })
}

pub(crate) async fn chart(State(engine): State<Engine>, headers: HeaderMap) -> Page {
    let signed = session(&engine, &headers).await?;
    let minutes = signed.zone.minutes;
    let days = every_day(
        &engine,
        &engine
            .portal_refund_days(&signed.session.user.merchant, DAYS, minutes)
            .await?,
        minutes,
    );
    let svg = chart::refunds_per_day(&days).map_err(|e| {
        tracing::error!("portal chart failed: {e}");
        Failure::Unavailable
    })?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}
