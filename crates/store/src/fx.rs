//! The exchange-rates table.

use crate::db::{query, Db, Row};
use crate::{corrupt, get_str, Result, Store, Tx};
use backflow_domain::fx::Rate;
use backflow_domain::Currency;

/// One rate of one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FxRate {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub base: Currency,
    pub quote: Currency,
    pub rate: Rate,
}

fn rate_from_row(row: &Row) -> Result<FxRate> {
    Ok(FxRate {
        date: get_str(row, "rate_date")?,
        base: Currency::parse(&get_str(row, "base")?).map_err(corrupt)?,
        quote: Currency::parse(&get_str(row, "quote")?).map_err(corrupt)?,
        rate: Rate::parse(&get_str(row, "rate")?).map_err(corrupt)?,
    })
}

async fn fetch_rate(
    e: Db<'_>,
    base: Currency,
    quote: Currency,
    date: &str,
) -> Result<Option<FxRate>> {
    let row = query(
        "SELECT rate_date, base, quote, rate FROM fx_rates WHERE base = $1 AND quote = $2 AND rate_date <= $3 \
         ORDER BY rate_date DESC LIMIT 1",
    )
    .bind(base.code())
    .bind(quote.code())
    .bind(date)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(rate_from_row).transpose()
}

impl Store {
    /// The rate for `base/quote` on `date`, or the latest one before it.
    pub async fn fx_rate(
        &self,
        base: Currency,
        quote: Currency,
        date: &str,
    ) -> Result<Option<FxRate>> {
        fetch_rate(self.read(), base, quote, date).await
    }

    /// Every rate of `date` (every day when `None`), ordered by day and pair.
    pub async fn fx_rates(&self, date: Option<&str>) -> Result<Vec<FxRate>> {
        let rows = query(
            "SELECT rate_date, base, quote, rate FROM fx_rates WHERE ($1 IS NULL OR rate_date = $1) \
             ORDER BY rate_date, base, quote",
        )
        .bind(date)
        .fetch_all(self.read())
        .await?;
        rows.iter().map(rate_from_row).collect()
    }

    pub async fn fx_rate_count(&self) -> Result<i64> {
        let row = query("SELECT COUNT(*) AS n FROM fx_rates")
            .fetch_one(self.read())
            .await?;
        crate::get_i64(&row, "n")
    }
}

impl Tx {
    /// [`Store::fx_rate`], read in this transaction.
    pub async fn fx_rate(
        &mut self,
        base: Currency,
        quote: Currency,
        date: &str,
    ) -> Result<Option<FxRate>> {
        fetch_rate(self.conn(), base, quote, date).await
    }

    /// Adds or replaces a rate.
    pub async fn put_fx_rate(&mut self, r: &FxRate) -> Result<()> {
        query(
            "INSERT INTO fx_rates (rate_date, base, quote, rate) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (rate_date, base, quote) DO UPDATE SET rate = excluded.rate",
        )
        .bind(&r.date)
        .bind(r.base.code())
        .bind(r.quote.code())
        .bind(r.rate.to_decimal_string())
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
