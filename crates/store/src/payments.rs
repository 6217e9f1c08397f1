//! Payments and captures.

use crate::db::{query, Db, Row};
use crate::{corrupt, get_i64, get_opt_i64, get_opt_str, get_str, Inserted, Result, Store, Tx};
use backflow_domain::payment::{Door, Payment, PaymentStatus, ProductCode};
use backflow_domain::{
    CaptureId, CaptureRequestId, ClientId, Currency, Money, PaymentId, PaymentRequestId, Timestamp,
};
use std::sync::LazyLock;

pub(crate) const PAYMENT_COLUMNS: &str = "payment_id, client_id, door, payment_request_id, currency, amount, method_type, \
    product_code, status, is_authorization, captured, capture_closed, settlement_currency, settled, commission, acquirer, \
    chargeback_pending, notify_url, created_at, paid_at";

pub(crate) fn payment_from_row(row: &Row) -> Result<Payment> {
    let currency = Currency::parse(&get_str(row, "currency")?).map_err(corrupt)?;
    let status = get_str(row, "status")?;
    let product = get_str(row, "product_code")?;
    let door = get_str(row, "door")?;
    Ok(Payment {
        id: PaymentId::parse(get_str(row, "payment_id")?).map_err(corrupt)?,
        merchant: ClientId::parse(get_str(row, "client_id")?).map_err(corrupt)?,
        door: Door::parse(&door).ok_or_else(|| corrupt(door))?,
        request_id: PaymentRequestId::parse(get_str(row, "payment_request_id")?)
            .map_err(corrupt)?,
        amount: Money::new(currency, get_i64(row, "amount")?),
        method_type: get_str(row, "method_type")?,
        product_code: ProductCode::parse(&product).ok_or_else(|| corrupt(product))?,
        status: PaymentStatus::parse(&status).ok_or_else(|| corrupt(status))?,
        is_authorization: get_i64(row, "is_authorization")? != 0,
        captured_minor: get_i64(row, "captured")?,
        capture_closed: get_i64(row, "capture_closed")? != 0,
        settlement_currency: Currency::parse(&get_str(row, "settlement_currency")?)
            .map_err(corrupt)?,
        settled_minor: get_i64(row, "settled")?,
        commission_minor: get_i64(row, "commission")?,
        acquirer: get_opt_str(row, "acquirer")?,
        chargeback_pending: get_i64(row, "chargeback_pending")? != 0,
        notify_url: get_opt_str(row, "notify_url")?,
        created_at: Timestamp(get_i64(row, "created_at")?),
        paid_at: get_opt_i64(row, "paid_at")?.map(Timestamp),
    })
}

/// How a merchant names a payment.
#[derive(Debug, Clone, Copy)]
pub enum PaymentKey<'a> {
    Id(&'a PaymentId),
    RequestId(&'a PaymentRequestId),
}

async fn fetch_payment(
    e: Db<'_>,
    merchant: &ClientId,
    key: PaymentKey<'_>,
    lock: &str,
) -> Result<Option<Payment>> {
    let (column, value) = match key {
        PaymentKey::Id(id) => ("payment_id", id.as_str()),
        PaymentKey::RequestId(id) => ("payment_request_id", id.as_str()),
    };
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE client_id = $1 AND {column} = $2{lock}"
    );
    let row = query(&sql)
        .bind(merchant.as_str())
        .bind(value)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(payment_from_row).transpose()
}

/// A capture, as listed in a payment's transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    pub id: CaptureId,
    pub request_id: CaptureRequestId,
    pub payment_id: PaymentId,
    pub amount: Money,
    pub created_at: Timestamp,
}

fn capture_from_row(row: &Row) -> Result<Capture> {
    let currency = Currency::parse(&get_str(row, "currency")?).map_err(corrupt)?;
    Ok(Capture {
        id: CaptureId::parse(get_str(row, "capture_id")?).map_err(corrupt)?,
        request_id: CaptureRequestId::parse(get_str(row, "capture_request_id")?)
            .map_err(corrupt)?,
        payment_id: PaymentId::parse(get_str(row, "payment_id")?).map_err(corrupt)?,
        amount: Money::new(currency, get_i64(row, "amount")?),
        created_at: Timestamp(get_i64(row, "created_at")?),
    })
}

const CAPTURE_COLUMNS: &str =
    "capture_id, capture_request_id, payment_id, currency, amount, created_at";

impl Store {
    pub async fn payment(
        &self,
        merchant: &ClientId,
        key: PaymentKey<'_>,
    ) -> Result<Option<Payment>> {
        self.durable_read(fetch_payment(self.read(), merchant, key, ""))
            .await
    }

    pub async fn captures_of(&self, payment: &PaymentId) -> Result<Vec<Capture>> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {CAPTURE_COLUMNS} FROM captures WHERE payment_id = $1 ORDER BY created_at"
            )
        });
        let read = query(&SQL).bind(payment.as_str()).fetch_all(self.read());
        let rows = self.durable_read(read).await?;
        rows.iter().map(capture_from_row).collect()
    }
}

impl Tx {
    /// Reads a payment and holds it until the transaction ends, so that
    /// refunds and captures of one payment never interleave.
    pub async fn lock_payment(
        &mut self,
        merchant: &ClientId,
        key: PaymentKey<'_>,
    ) -> Result<Option<Payment>> {
        let lock = self.backend.lock_clause();
        fetch_payment(self.conn(), merchant, key, lock).await
    }

    /// `Existing` when another payment holds its request id (or id) already.
    pub async fn insert_payment(&mut self, p: &Payment) -> Result<Inserted> {
        let changed = query(&format!(
            "INSERT INTO payments ({PAYMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
             ON CONFLICT DO NOTHING"
        ))
        .bind(p.id.as_str())
        .bind(p.merchant.as_str())
        .bind(p.door.as_str())
        .bind(p.request_id.as_str())
        .bind(p.amount.currency.code())
        .bind(p.amount.minor)
        .bind(&p.method_type)
        .bind(p.product_code.as_str())
        .bind(p.status.as_str())
        .bind(i64::from(p.is_authorization))
        .bind(p.captured_minor)
        .bind(i64::from(p.capture_closed))
                .bind(p.settlement_currency.code())
        .bind(p.settled_minor)
        .bind(p.commission_minor)
        .bind(p.acquirer.as_deref())
        .bind(i64::from(p.chargeback_pending))
        .bind(p.notify_url.as_deref())
        .bind(p.created_at.millis())
        .bind(p.paid_at.map(Timestamp::millis))
        .execute(self.conn())
        .await?;
        Ok(Inserted::from_changed(changed))
    }

    /// Writes back what a payment's life may change: status, captures and the paid time.
    pub async fn update_payment(&mut self, p: &Payment) -> Result<()> {
        query(
                        "UPDATE payments SET status = $1, captured = $2, capture_closed = $3, chargeback_pending = $4, paid_at = $5, \
             settled = $6, commission = $7 WHERE payment_id = $8",
        )
        .bind(p.status.as_str())
        .bind(p.captured_minor)
        .bind(i64::from(p.capture_closed))
        .bind(i64::from(p.chargeback_pending))
                .bind(p.paid_at.map(Timestamp::millis))
        .bind(p.settled_minor)
        .bind(p.commission_minor)
        .bind(p.id.as_str())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    pub async fn insert_capture(&mut self, merchant: &ClientId, c: &Capture) -> Result<()> {
        query(&format!("INSERT INTO captures (client_id, {CAPTURE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
            .bind(merchant.as_str())
            .bind(c.id.as_str())
            .bind(c.request_id.as_str())
            .bind(c.payment_id.as_str())
            .bind(c.amount.currency.code())
            .bind(c.amount.minor)
            .bind(c.created_at.millis())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn capture_by_request_id(
        &mut self,
        merchant: &ClientId,
        id: &CaptureRequestId,
    ) -> Result<Option<Capture>> {
        let row = query(&format!(
            "SELECT {CAPTURE_COLUMNS} FROM captures WHERE client_id = $1 AND capture_request_id = $2"
        ))
        .bind(merchant.as_str())
        .bind(id.as_str())
        .fetch_optional(self.conn())
        .await?;
        row.as_ref().map(capture_from_row).transpose()
    }
}
