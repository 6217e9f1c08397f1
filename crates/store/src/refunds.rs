//! Refunds.

use crate::{corrupt, get_i64, get_opt_i64, get_opt_str, get_str, Result, Store, Tx};
use backflow_domain::refund::{Refund, RefundStatus};
use backflow_domain::{ClientId, Currency, Money, PaymentId, RefundId, RefundRequestId, Timestamp};
use sqlx::any::AnyRow;
use sqlx::Executor;

const REFUND_COLUMNS: &str =
    "refund_id, client_id, refund_request_id, payment_id, currency, amount, status, \
    reason, notify_url, result_code, notify_on_final, created_at, finished_at";

fn refund_from_row(row: &AnyRow) -> Result<Refund> {
    let currency = Currency::parse(&get_str(row, "currency")?).map_err(corrupt)?;
    let status = get_str(row, "status")?;
    Ok(Refund {
        id: RefundId::parse(get_str(row, "refund_id")?).map_err(corrupt)?,
        merchant: ClientId::parse(get_str(row, "client_id")?).map_err(corrupt)?,
        request_id: RefundRequestId::parse(get_str(row, "refund_request_id")?).map_err(corrupt)?,
        payment_id: PaymentId::parse(get_str(row, "payment_id")?).map_err(corrupt)?,
        amount: Money::new(currency, get_i64(row, "amount")?),
        status: RefundStatus::parse(&status).ok_or_else(|| corrupt(status))?,
        reason: get_opt_str(row, "reason")?,
        notify_url: get_opt_str(row, "notify_url")?,
        result_code: get_opt_str(row, "result_code")?,
        notify_on_final: get_i64(row, "notify_on_final")? != 0,
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

async fn fetch_refund<'e, E>(
    e: E,
    merchant: &ClientId,
    key: RefundKey<'_>,
) -> Result<Option<Refund>>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let (column, value) = match key {
        RefundKey::Id(id) => ("refund_id", id.as_str()),
        RefundKey::RequestId(id) => ("refund_request_id", id.as_str()),
    };
    let sql =
        format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE client_id = $1 AND {column} = $2");
    let row = sqlx::query(&sql)
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
}

impl Store {
    pub async fn refund(&self, merchant: &ClientId, key: RefundKey<'_>) -> Result<Option<Refund>> {
        fetch_refund(self.read(), merchant, key).await
    }

    pub async fn refunds_of(&self, payment: &PaymentId) -> Result<Vec<Refund>> {
        let rows = sqlx::query(&format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_id = $1 ORDER BY created_at"
        ))
        .bind(payment.as_str())
        .fetch_all(self.read())
        .await?;
        rows.iter().map(refund_from_row).collect()
    }
}

impl Tx {
    pub async fn refund(
        &mut self,
        merchant: &ClientId,
        key: RefundKey<'_>,
    ) -> Result<Option<Refund>> {
        fetch_refund(self.conn(), merchant, key).await
    }

    /// Totals over the payment's refunds; call it with the payment locked.
    pub async fn refund_totals(&mut self, payment: &PaymentId) -> Result<RefundTotals> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total, COUNT(*) AS n FROM refunds \
             WHERE payment_id = $1 AND status <> 'FAIL'",
        )
        .bind(payment.as_str())
        .fetch_one(self.conn())
        .await?;
        Ok(RefundTotals {
            outstanding_minor: get_i64(&row, "total")?,
            count: u32::try_from(get_i64(&row, "n")?).map_err(corrupt)?,
        })
    }

    pub async fn insert_refund(&mut self, r: &Refund) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO refunds ({REFUND_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(r.id.as_str())
        .bind(r.merchant.as_str())
        .bind(r.request_id.as_str())
        .bind(r.payment_id.as_str())
        .bind(r.amount.currency.code())
        .bind(r.amount.minor)
        .bind(r.status.as_str())
        .bind(r.reason.as_deref())
        .bind(r.notify_url.as_deref())
        .bind(r.result_code.as_deref())
        .bind(i64::from(r.notify_on_final))
        .bind(r.created_at.millis())
        .bind(r.finished_at.map(Timestamp::millis))
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
