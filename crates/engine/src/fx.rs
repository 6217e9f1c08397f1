//! Exchange rates: settlement amounts, imports, and the demo rates.

use crate::error::{EngineError, Result};
use crate::{Deployment, Engine};
use backflow_domain::fx::{Quote, Rate};
use backflow_domain::{Currency, Money, Timestamp};
use backflow_store::{FxRate, Tx};

/// Rates seeded on a sandbox deployment's first start so that cross-currency
/// settlement works out of the box. Dated 2020-01-01, so any later day without
/// its own rate falls back to them: a production deployment must never have them.
const DEMO_RATES: &[(&str, &str, &str)] = &[
    ("USD", "SGD", "1.35"),
    ("SGD", "USD", "0.74"),
    ("USD", "HKD", "7.8"),
    ("HKD", "USD", "0.128"),
    ("USD", "EUR", "0.92"),
    ("EUR", "USD", "1.087"),
    ("USD", "JPY", "150"),
    ("JPY", "USD", "0.0067"),
    ("USD", "CNY", "7.2"),
    ("CNY", "USD", "0.139"),
    ("USD", "KRW", "1350"),
    ("KRW", "USD", "0.00074"),
    ("USD", "PHP", "56"),
    ("PHP", "USD", "0.0179"),
    ("USD", "IDR", "15600"),
    ("IDR", "USD", "0.000064"),
];

const DEMO_DATE: &str = "2020-01-01";

impl Engine {
    /// `amount` in `target` at the rate of the day of `at` (or the latest before it).
    /// Read in the caller's transaction, so a use case holds one connection only.
    pub(crate) async fn settlement(
        &self,
        tx: &mut Tx,
        amount: Money,
        target: Currency,
        at: Timestamp,
    ) -> Result<(Money, Option<Quote>)> {
        if amount.currency == target {
            return Ok((amount, None));
        }
        let rate = tx
            .fx_rate(amount.currency, target, &at.date_string())
            .await?
            .ok_or(EngineError::CurrencyNotSupported)?;
        let settled = rate
            .rate
            .convert(amount, target)
            .ok_or_else(|| EngineError::Invalid("the amount is too large to convert".into()))?;
        let quote = Quote {
            base: amount.currency,
            quote: target,
            rate: rate.rate,
            rate_date: rate.date,
        };
        Ok((settled, Some(quote)))
    }

    /// Imports `date,pair,rate` rows (`2026-11-25,USD/SGD,1.3456`; a header row is allowed).
    /// All rows or none: a bad row names its line and nothing is stored.
    pub async fn import_fx_rates(&self, csv_text: &str) -> Result<usize> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .trim(csv::Trim::All)
            .from_reader(csv_text.as_bytes());
        let mut rates = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let line = i + 1;
            let record = record.map_err(|e| EngineError::Invalid(format!("line {line}: {e}")))?;
            let field = |n: usize| record.get(n).unwrap_or_default();
            if line == 1 && field(0).eq_ignore_ascii_case("date") {
                continue;
            }
            rates.push(
                parse_rate_row(field(0), field(1), field(2))
                    .map_err(|e| EngineError::Invalid(format!("line {line}: {e}")))?,
            );
        }
        let mut tx = self.store().begin().await?;
        for r in &rates {
            tx.put_fx_rate(r).await?;
        }
        tx.commit().await?;
        Ok(rates.len())
    }

    /// Seeds the demo rates when the table is empty, on a sandbox deployment only.
    pub async fn seed_demo_rates(&self) -> Result<()> {
        if self.deployment() != Deployment::Sandbox || self.store().fx_rate_count().await? > 0 {
            return Ok(());
        }
        let mut tx = self.store().begin().await?;
        for (base, quote, rate) in DEMO_RATES {
            tx.put_fx_rate(
                &parse_rate_row(DEMO_DATE, &format!("{base}/{quote}"), rate)
                    .map_err(EngineError::Invalid)?,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn parse_rate_row(date: &str, pair: &str, rate: &str) -> Result<FxRate, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    if time::Date::parse(date, &format).is_err() {
        return Err(format!("date {date:?} is not a day written YYYY-MM-DD"));
    }
    let (base, quote) = pair
        .split_once('/')
        .ok_or_else(|| format!("pair {pair:?} is not BASE/QUOTE"))?;
    let base = Currency::parse(base).map_err(|e| e.to_string())?;
    let quote = Currency::parse(quote).map_err(|e| e.to_string())?;
    if base == quote {
        return Err(format!("pair {pair:?} names one currency twice"));
    }
    let rate = Rate::parse(rate).map_err(|e| e.to_string())?;
    Ok(FxRate {
        date: date.to_owned(),
        base,
        quote,
        rate,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_rate_row;

    #[test]
    fn rate_rows_are_checked() {
        assert!(parse_rate_row("2026-11-25", "USD/SGD", "1.3456").is_ok());
        assert!(parse_rate_row("20261125", "USD/SGD", "1.3").is_err());
        assert!(parse_rate_row("2026-99-99", "USD/SGD", "1.3").is_err());
        assert!(parse_rate_row("2026-02-29", "USD/SGD", "1.3").is_err());
        assert!(parse_rate_row("2028-02-29", "USD/SGD", "1.3").is_ok());
        assert!(parse_rate_row("2026-11-25", "USDSGD", "1.3").is_err());
        assert!(parse_rate_row("2026-11-25", "USD/USD", "1").is_err());
        assert!(parse_rate_row("2026-11-25", "USD/SGD", "-1").is_err());
    }
}
