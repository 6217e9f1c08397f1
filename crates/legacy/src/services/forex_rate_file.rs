//! `forex_rate_file`: the day's exchange rates against CNY, from the rates table.
//!
//! One `date|time|currency|rate` line per currency quoted in CNY, from the
//! latest day on or before today (Beijing) that has rates; the time is the
//! start of that day, as the table keeps one rate per day.

use super::Call;
use crate::beijing;
use crate::reply::Reply;

pub(crate) async fn handle(call: &Call<'_>) -> Reply {
    let store = call.engine.store();
    let today = beijing::dashed_date(beijing::day_of(call.engine.clock().now()));
    let rates = match store.latest_fx_rate_day(&today).await {
        Ok(Some(day)) => store.fx_rates(Some(&day)).await,
        Ok(None) => Ok(Vec::new()),
        Err(e) => Err(e),
    };
    match rates {
        Ok(rates) => Reply::Text(
            rates
                .iter()
                .filter(|r| r.quote.code() == "CNY")
                .map(|r| {
                    format!(
                        "{}|000000|{}|{}\n",
                        r.date.replace('-', ""),
                        r.base,
                        r.rate.to_decimal_string()
                    )
                })
                .collect(),
        ),
        Err(e) => {
            tracing::error!(error = %e, "forex_rate_file: cannot read rates");
            Reply::Text("System exception".into())
        }
    }
}
