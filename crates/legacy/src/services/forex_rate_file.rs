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
    let text = match rates(call, cny()?).await {
        Ok(rates) => rates.iter().map(line).collect(),
        Err(e) => {
            tracing::error!(error = %e, "forex_rate_file: cannot read rates");
            "System exception".to_owned()
        }
    };
    Ok(Reply::Text(text))
}

async fn rates(call: &Call<'_>, cny: Currency) -> Result<Vec<FxRate>, EngineError> {
    let today = beijing::dashed_date(beijing::day_of(call.engine.clock().now()));
    call.engine.rates_quoted_in(cny, &today).await
}

/// `YYYYMMDD|HHMMSS|CCY|rate`.
fn line(r: &FxRate) -> String {
    format!(
        "{}|000000|{}|{}\n",
        r.date.replace('-', ""),
        r.base,
        r.rate.to_decimal_string()
    )
}
