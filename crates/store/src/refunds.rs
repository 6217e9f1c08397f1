//! Refunds.

use crate::db::{query, Db, Param, Row};
use crate::{corrupt, get_i64, get_opt_i64, get_opt_str, get_str, Result, Store, Tx, Writes};
use backflow_domain::fx::{Quote, Rate};
use backflow_domain::payment::AcquirerRef;
use backflow_domain::refund::{Refund, RefundStatus};
use backflow_domain::{ClientId, Currency, Money, PaymentId, RefundId, RefundRequestId, Timestamp};
use std::sync::LazyLock;

pub(crate) const REFUND_COLUMNS: &str = "refund_id, client_id, refund_request_id, payment_id, currency, amount, status, \
    reason, notify_url, result_code, notify_on_final, held_currency, held, settled, quote_base, quote_quote, \
    quote_rate, quote_date, commission_returned, acquirer_name, acquirer_merchant_id, acquirer_transaction_id, \
    acquirer_reference_no, reversed_at, created_at, finished_at";

fn currency(row: &Row, col: &str) -> Result<Currency> {
    Currency::parse(&get_str(row, col)?).map_err(corrupt)
}

fn quote_from_row(row: &Row) -> Result<Option<Quote>> {
    let Some(rate) = get_opt_str(row, "quote_rate")? else {
        return Ok(None);
    };
    Ok(Some(Quote {
        base: currency(row, "quote_base")?,
        quote: currency(row, "quote_quote")?,
        rate: Rate::parse(&rate).map_err(corrupt)?,
        rate_date: get_str(row, "quote_date")?,
    }))
}

fn acquirer_from_row(row: &Row) -> Result<Option<AcquirerRef>> {
    let Some(name) = get_opt_str(row, "acquirer_name")? else {
        return Ok(None);
    };
    Ok(Some(AcquirerRef {
        name,
        merchant_id: get_str(row, "acquirer_merchant_id")?,
        transaction_id: get_str(row, "acquirer_transaction_id")?,
        reference_no: get_str(row, "acquirer_reference_no")?,
    }))
}

pub(crate) fn refund_from_row(row: &Row) -> Result<Refund> {
    let status = get_str(row, "status")?;
    let held_currency = currency(row, "held_currency")?;
    Ok(Refund {
        id: RefundId::parse(get_str(row, "refund_id")?).map_err(corrupt)?,
        merchant: ClientId::parse(get_str(row, "client_id")?).map_err(corrupt)?,
        request_id: RefundRequestId::parse(get_str(row, "refund_request_id")?).map_err(corrupt)?,
        payment_id: PaymentId::parse(get_str(row, "payment_id")?).map_err(corrupt)?,
        amount: Money::new(currency(row, "currency")?, get_i64(row, "amount")?),
        status: RefundStatus::parse(&status).ok_or_else(|| corrupt(status))?,
        reason: get_opt_str(row, "reason")?,
        notify_url: get_opt_str(row, "notify_url")?,
        result_code: get_opt_str(row, "result_code")?,
        notify_on_final: get_i64(row, "notify_on_final")? != 0,
        held: Money::new(held_currency, get_i64(row, "held")?),
        settled: get_opt_i64(row, "settled")?.map(|m| Money::new(held_currency, m)),
        quote: quote_from_row(row)?,
        commission_returned: get_i64(row, "commission_returned")?,
        acquirer: acquirer_from_row(row)?,
        reversed_at: get_opt_i64(row, "reversed_at")?.map(Timestamp),
        created_at: Timestamp(get_i64(row, "created_at")?),
        finished_at: get_opt_i64(row, "finished_at")?.map(Timestamp),
    })
}

/// How a merchant names a refund.
#[derive(Debug, Clone, Copy)]
pub enum RefundKey<'a> {
    Id(&'a RefundId),
    RequestId(&'a RefundRequestId),
}

async fn fetch_refund(
    e: Db<'_>,
    merchant: &ClientId,
    key: RefundKey<'_>,
    lock: &str,
) -> Result<Option<Refund>> {
    let (column, value) = match key {
        RefundKey::Id(id) => ("refund_id", id.as_str()),
        RefundKey::RequestId(id) => ("refund_request_id", id.as_str()),
    };
    let sql = format!(
        "SELECT {REFUND_COLUMNS} FROM refunds WHERE client_id = $1 AND {column} = $2{lock}"
    );
    let row = query(&sql)
        .bind(merchant.as_str())
        .bind(value)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(refund_from_row).transpose()
}

/// What a payment's refunds already hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RefundTotals {
    /// Sum of refunds that are processing, waiting or successful, in minor units.
    pub outstanding_minor: i64,
    /// How many such refunds there are.
    pub count: u32,
    /// Commission already given back by the payment's refunds.
    pub commission_returned: i64,
}

impl Store {
    pub async fn refund(&self, merchant: &ClientId, key: RefundKey<'_>) -> Result<Option<Refund>> {
        self.durable_read(fetch_refund(self.read(), merchant, key, ""))
            .await
    }

    pub async fn refunds_of(&self, payment: &PaymentId) -> Result<Vec<Refund>> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_id = $1 ORDER BY created_at"
            )
        });
        let read = query(&SQL).bind(payment.as_str()).fetch_all(self.read());
        let rows = self.durable_read(read).await?;
        rows.iter().map(refund_from_row).collect()
    }
}

impl Tx {
    /// A refund by id alone, for work that starts from the id (scheduled jobs).
    pub async fn refund_by_id(&mut self, id: &RefundId) -> Result<Option<Refund>> {
        let row = query(&format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE refund_id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(self.conn())
        .await?;
        row.as_ref().map(refund_from_row).transpose()
    }

    /// Reads a refund and holds it until the transaction ends.
    pub async fn lock_refund(
        &mut self,
        merchant: &ClientId,
        id: &RefundId,
    ) -> Result<Option<Refund>> {
        let lock = self.backend.lock_clause();
        fetch_refund(self.conn(), merchant, RefundKey::Id(id), lock).await
    }

    /// Totals over the payment's refunds; call it with the payment locked.
    pub async fn refund_totals(&mut self, payment: &PaymentId) -> Result<RefundTotals> {
        let row = query(&format!(
            "SELECT {TOTALS_COLUMNS} FROM refunds WHERE payment_id = $1"
        ))
        .bind(payment.as_str())
        .fetch_one(self.conn())
        .await?;
        totals_from_row(&row)
    }

    /// In one read: the refund `request_id` already made, if any, and the
    /// totals over `payment`'s refunds. Call it with the payment locked.
    pub async fn refund_request(
        &mut self,
        merchant: &ClientId,
        request_id: &RefundRequestId,
        payment: &PaymentId,
    ) -> Result<(Option<Refund>, RefundTotals)> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            let columns: Vec<String> = REFUND_COLUMNS
                .split(',')
                .map(|c| format!("r.{}", c.trim()))
                .collect();
            format!(
                "SELECT t.total, t.n, t.returned, {} FROM \
                 (SELECT {TOTALS_COLUMNS} FROM refunds WHERE payment_id = $3) t \
                 LEFT JOIN refunds r ON r.client_id = $1 AND r.refund_request_id = $2",
                columns.join(", ")
            )
        });
        let row = query(&SQL)
            .bind(merchant.as_str())
            .bind(request_id.as_str())
            .bind(payment.as_str())
            .fetch_one(self.conn())
            .await?;
        let refund = match get_opt_str(&row, "refund_id")? {
            Some(_) => Some(refund_from_row(&row)?),
            None => None,
        };
        Ok((refund, totals_from_row(&row)?))
    }

    pub async fn insert_refund(&mut self, r: &Refund) -> Result<()> {
        let mut writes = Writes::new();
        writes.insert_refund(r);
        self.write(writes).await
    }

    /// Writes back what a refund's life changes after it is created.
    pub async fn update_refund(&mut self, r: &Refund) -> Result<()> {
        let mut writes = Writes::new();
        writes.update_refund(r);
        self.write(writes).await
    }
}

/// The sums [`RefundTotals`] is read from.
const TOTALS_COLUMNS: &str = "CAST(COALESCE(SUM(CASE WHEN status <> 'FAIL' THEN amount ELSE 0 END), 0) AS BIGINT) AS total, \
     CAST(COALESCE(SUM(CASE WHEN status <> 'FAIL' THEN 1 ELSE 0 END), 0) AS BIGINT) AS n, \
     CAST(COALESCE(SUM(commission_returned), 0) AS BIGINT) AS returned";

fn totals_from_row(row: &Row) -> Result<RefundTotals> {
    Ok(RefundTotals {
        outstanding_minor: get_i64(row, "total")?,
        count: u32::try_from(get_i64(row, "n")?).map_err(corrupt)?,
        commission_returned: get_i64(row, "returned")?,
    })
}

impl RefundTotals {
    /// The totals once `refund`, new and holding its funds, is stored too.
    pub fn with(self, refund: &Refund) -> Self {
        debug_assert!(refund.status.holds_funds() && refund.commission_returned == 0);
        Self {
            outstanding_minor: self.outstanding_minor + refund.amount.minor,
            count: self.count + 1,
            commission_returned: self.commission_returned,
        }
    }
}

impl Writes {
    pub fn insert_refund(&mut self, r: &Refund) {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            let placeholders: Vec<String> = (1..=26).map(|i| format!("${i}")).collect();
            format!(
                "INSERT INTO refunds ({REFUND_COLUMNS}) VALUES ({})",
                placeholders.join(", ")
            )
        });
        self.push_insert(r.id.as_str().to_owned(), SQL.as_str(), insert_params(r));
    }

    /// Writes back what a refund's life changes after it is created (in
    /// this batch or before).
    pub fn update_refund(&mut self, r: &Refund) {
        if self.replace(r.id.as_str(), || insert_params(r)) {
            return;
        }
        let mut params = money_params(r).to_vec();
        params.extend([
            r.status.as_str().into(),
            r.result_code.as_deref().into(),
            i64::from(r.notify_on_final).into(),
            r.reversed_at.map(Timestamp::millis).into(),
            r.finished_at.map(Timestamp::millis).into(),
            r.id.as_str().into(),
        ]);
        self.push(
            "UPDATE refunds SET held = $1, settled = $2, quote_base = $3, quote_quote = $4, quote_rate = $5, \
             quote_date = $6, commission_returned = $7, status = $8, result_code = $9, notify_on_final = $10, \
             reversed_at = $11, finished_at = $12 WHERE refund_id = $13",
            params,
        );
    }
}

/// A refund's row, in [`REFUND_COLUMNS`] order.
fn insert_params(r: &Refund) -> Vec<Param> {
    let mut params: Vec<Param> = vec![
        r.id.as_str().into(),
        r.merchant.as_str().into(),
        r.request_id.as_str().into(),
        r.payment_id.as_str().into(),
        r.amount.currency.code().into(),
        r.amount.minor.into(),
        r.status.as_str().into(),
        r.reason.as_deref().into(),
        r.notify_url.as_deref().into(),
        r.result_code.as_deref().into(),
        i64::from(r.notify_on_final).into(),
        r.held.currency.code().into(),
    ];
    params.extend(money_params(r));
    params.extend([
        r.acquirer.as_ref().map(|a| a.name.clone()).into(),
        r.acquirer.as_ref().map(|a| a.merchant_id.clone()).into(),
        r.acquirer.as_ref().map(|a| a.transaction_id.clone()).into(),
        r.acquirer.as_ref().map(|a| a.reference_no.clone()).into(),
        r.reversed_at.map(Timestamp::millis).into(),
        r.created_at.millis().into(),
        r.finished_at.map(Timestamp::millis).into(),
    ]);
    params
}

/// The refund's money as stored, in column order: held, settled, the
/// settlement quote, the commission given back.
fn money_params(r: &Refund) -> [Param; 7] {
    [
        r.held.minor.into(),
        r.settled.map(|m| m.minor).into(),
        r.quote.as_ref().map(|q| q.base.code()).into(),
        r.quote.as_ref().map(|q| q.quote.code()).into(),
        r.quote.as_ref().map(|q| q.rate.to_decimal_string()).into(),
        r.quote.as_ref().map(|q| q.rate_date.clone()).into(),
        r.commission_returned.into(),
    ]
}
