//! `forex_rate_file`: today's exchange rates into CNY, from the rates table.
//!
//! One `date|time|currency|rate` line per currency with a rate into CNY: its
//! latest rate on or before today (Beijing), dated with the table's day; the
//! time is the start of that day, as the table keeps one rate per day.

use super::{cny, Call};
use crate::beijing;
use crate::reply::Reply;
use backflow_domain::Currency;
use backflow_domain::LegacyCode;
use backflow_engine::EngineError;
use backflow_store::FxRate;

pub(crate) async fn handle(call: &Call<'_>) -> Result<Reply, LegacyCode> {
    match rates(call, cny()?).await {
        Ok(rates) => {
            let lines: Vec<[String; 4]> = rates.iter().map(line).collect();
            Ok(super::file(
                lines.iter().map(|l| l.iter().map(String::as_str)),
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "forex_rate_file: cannot read rates");
            Ok(Reply::Text(super::SYSTEM_EXCEPTION.into()))
        }
    }
}

async fn rates(call: &Call<'_>, cny: Currency) -> Result<Vec<FxRate>, EngineError> {
    let today = beijing::dashed_date(beijing::day_of(call.engine.clock().now()));
    call.engine.rates_quoted_in(cny, &today).await
}

/// `YYYYMMDD|HHMMSS|CCY|rate`.
fn line(r: &FxRate) -> [String; 4] {
    [
        r.date.replace('-', ""),
        "000000".to_owned(),
        r.base.to_string(),
        r.rate.to_decimal_string(),
    ]
}
