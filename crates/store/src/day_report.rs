//! Reads behind the day reports and reconciliation: a merchant's transactions
//! of a day, streamed in the order they are written, and the ledger movements
//! they must add up to.

use crate::db::{query, Db, Row};
use crate::{corrupt, get_i64, get_opt_i64, get_opt_str, get_str, Result, Store, Tx};
use backflow_domain::ledger::{Account, PostingKind};
use backflow_domain::{ClientId, Currency, Money, Timestamp};
use std::sync::LazyLock;

/// A row's transaction type, as the reports name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayRowKind {
    Payment,
    Capture,
    Cancel,
    Refund,
    RefundReversal,
}

impl DayRowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Payment => "PAYMENT",
            Self::Capture => "CAPTURE",
            Self::Cancel => "CANCEL",
            Self::Refund => "REFUND",
            Self::RefundReversal => "REFUND_REVERSAL",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Payment,
            Self::Capture,
            Self::Cancel,
            Self::Refund,
            Self::RefundReversal,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One transaction of a day, as stored; amounts are unsigned, the report signs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayRow {
    pub kind: DayRowKind,
    /// paymentId, captureId or refundId (a reversal carries its refund's id).
    pub transaction_id: String,
    /// The payment (for a reversal, the refund) this one belongs to.
    pub original_id: Option<String>,
    /// The merchant's request id: the payment's, or the refund's.
    pub request_id: String,
    pub method_type: String,
    pub product_code: String,
    pub acquirer: Option<String>,
    pub acquirer_reference_no: Option<String>,
    pub created_at: Timestamp,
    /// When its money moved: paid, captured, refunded, reversed (created, for a cancel).
    pub completed_at: Timestamp,
    pub amount: Money,
    /// In the settlement currency; zero for a cancel.
    pub settled: Money,
    /// Commission charged (payment, capture) or given back (refund), in the settlement currency.
    pub fee_minor: i64,
    /// `(pair, rate)` of the refund's conversion, when it had one.
    pub quote: Option<(String, String)>,
    pub reason: Option<String>,
}

fn day_row(row: &Row) -> Result<DayRow> {
    let currency = |col| Currency::parse(&get_str(row, col)?).map_err(corrupt);
    let kind = get_str(row, "kind")?;
    let transaction_id = get_str(row, "transaction_id")?;
    let settled = get_opt_i64(row, "settled")?.ok_or_else(|| {
        corrupt(format!(
            "{kind} {transaction_id} has no settlement amount (made before settlement amounts were kept)"
        ))
    })?;
    let quote = match (
        get_opt_str(row, "quote_base")?,
        get_opt_str(row, "quote_quote")?,
        get_opt_str(row, "quote_rate")?,
    ) {
        (Some(base), Some(quote), Some(rate)) => Some((format!("{base}/{quote}"), rate)),
        _ => None,
    };
    Ok(DayRow {
        kind: DayRowKind::parse(&kind).ok_or_else(|| corrupt(&kind))?,
        transaction_id,
        original_id: get_opt_str(row, "original_id")?,
        request_id: get_str(row, "request_id")?,
        method_type: get_str(row, "method_type")?,
        product_code: get_str(row, "product_code")?,
        acquirer: get_opt_str(row, "acquirer")?,
        acquirer_reference_no: get_opt_str(row, "acquirer_reference_no")?,
        created_at: Timestamp(get_i64(row, "created_at")?),
        completed_at: Timestamp(get_i64(row, "completed_at")?),
        amount: Money::new(currency("currency")?, get_i64(row, "amount")?),
        settled: Money::new(currency("settlement_currency")?, settled),
        fee_minor: get_i64(row, "fee")?,
        quote,
        reason: get_opt_str(row, "reason")?,
    })
}

/// The columns every day query selects, from a payment `p` without a refund.
const PAYMENT_SIDE: &str = "p.method_type AS method_type, p.product_code AS product_code, \
    CAST(NULL AS TEXT) AS acquirer_reference_no, CAST(NULL AS TEXT) AS quote_base, \
    CAST(NULL AS TEXT) AS quote_quote, CAST(NULL AS TEXT) AS quote_rate, CAST(NULL AS TEXT) AS reason";

/// Paid payments (not authorisations: their captures are the rows), by the time they were paid.
static PAYMENTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT 'PAYMENT' AS kind, p.payment_id AS transaction_id, CAST(NULL AS TEXT) AS original_id, \
         p.payment_request_id AS request_id, p.acquirer AS acquirer, p.created_at AS created_at, \
         p.paid_at AS completed_at, p.currency AS currency, p.amount AS amount, \
         p.settlement_currency AS settlement_currency, p.settled AS settled, p.commission AS fee, {PAYMENT_SIDE} \
         FROM payments p WHERE p.client_id = $1 AND p.paid_at >= $2 AND p.paid_at < $3 \
         AND p.is_authorization = 0 ORDER BY p.paid_at"
    )
});

static CAPTURES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT 'CAPTURE' AS kind, c.capture_id AS transaction_id, c.payment_id AS original_id, \
         p.payment_request_id AS request_id, p.acquirer AS acquirer, c.created_at AS created_at, \
         c.created_at AS completed_at, c.currency AS currency, c.amount AS amount, \
         p.settlement_currency AS settlement_currency, c.settled AS settled, c.commission AS fee, {PAYMENT_SIDE} \
         FROM captures c JOIN payments p ON p.payment_id = c.payment_id \
         WHERE c.client_id = $1 AND c.created_at >= $2 AND c.created_at < $3 ORDER BY c.created_at"
    )
});

/// Cancelled payments, on the day they were made: Backflow keeps no cancel
/// time, and a cancel moves no money. Payment ids begin with their creation
/// time, so the day is a range of the primary key ($4, $5).
static CANCELS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT 'CANCEL' AS kind, p.payment_id AS transaction_id, CAST(NULL AS TEXT) AS original_id, \
         p.payment_request_id AS request_id, p.acquirer AS acquirer, p.created_at AS created_at, \
         p.created_at AS completed_at, p.currency AS currency, p.amount AS amount, \
         p.settlement_currency AS settlement_currency, 0 AS settled, 0 AS fee, {PAYMENT_SIDE} \
         FROM payments p WHERE p.client_id = $1 AND p.payment_id >= $4 AND p.payment_id < $5 \
         AND p.created_at >= $2 AND p.created_at < $3 AND p.status = 'CANCELLED' ORDER BY p.payment_id"
    )
});

/// A refund's columns; `{time}` is the instant that places it in the day.
fn refund_rows(kind: &str, original: &str, time: &str, fee: &str) -> String {
    format!(
        "SELECT '{kind}' AS kind, r.refund_id AS transaction_id, {original} AS original_id, \
         r.refund_request_id AS request_id, COALESCE(r.acquirer_name, p.acquirer) AS acquirer, \
         r.created_at AS created_at, {time} AS completed_at, r.currency AS currency, r.amount AS amount, \
         r.held_currency AS settlement_currency, r.settled AS settled, {fee} AS fee, \
         p.method_type AS method_type, p.product_code AS product_code, \
         r.acquirer_reference_no AS acquirer_reference_no, r.quote_base AS quote_base, \
         r.quote_quote AS quote_quote, r.quote_rate AS quote_rate, r.reason AS reason \
         FROM refunds r JOIN payments p ON p.payment_id = r.payment_id \
         WHERE r.client_id = $1 AND {time} >= $2 AND {time} < $3"
    )
}

/// Successful refunds, by the time they succeeded (reversed ones too: the reversal is a row of its own).
static REFUNDS: LazyLock<String> = LazyLock::new(|| {
    refund_rows(
        "REFUND",
        "r.payment_id",
        "r.finished_at",
        "r.commission_returned",
    ) + " AND r.status = 'SUCCESS' ORDER BY r.finished_at"
});

static REVERSALS: LazyLock<String> = LazyLock::new(|| {
    refund_rows("REFUND_REVERSAL", "r.refund_id", "r.reversed_at", "0") + " ORDER BY r.reversed_at"
});

/// The range of ids made from `from` (inclusive) to `to` (exclusive): ids
/// begin with their UTC creation time to the second (`YYYYMMDDHHMMSS`), so
/// the bounds are whole seconds and the exact instants are checked beside them.
fn id_range(from: Timestamp, to: Timestamp) -> (String, String) {
    (
        from.compact_date_time(),
        to.plus_millis(999).compact_date_time(),
    )
}

/// The postings that move a merchant's funds: transactions, on the
/// available and reserved accounts (a reservation nets out across the two).
static FUNDS_WHERE: LazyLock<String> = LazyLock::new(|| {
    let kinds = PostingKind::TRANSACTIONS
        .iter()
        .map(|k| format!("'{}'", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "FROM ledger_postings p JOIN ledger_legs l ON l.posting_id = p.posting_id \
         WHERE p.posting_id >= $1 AND p.posting_id < $2 AND p.created_at >= $3 AND p.created_at < $4 \
         AND p.kind IN ({kinds}) AND (l.account = $5 OR l.account = $6)"
    )
});

/// The sum of a merchant's transaction legs from `from` to `to`, per currency.
async fn funds_between(
    db: Db<'_>,
    merchant: &ClientId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<(Currency, i64)>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT l.currency AS currency, CAST(SUM(l.amount) AS BIGINT) AS total {} \
             GROUP BY l.currency ORDER BY l.currency",
            *FUNDS_WHERE
        )
    });
    let (lo, hi) = id_range(from, to);
    let rows = query(&SQL)
        .bind(lo)
        .bind(hi)
        .bind(from.millis())
        .bind(to.millis())
        .bind(Account::MerchantAvailable(merchant.clone()).key())
        .bind(Account::MerchantReserved(merchant.clone()).key())
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                Currency::parse(&get_str(r, "currency")?).map_err(corrupt)?,
                get_i64(r, "total")?,
            ))
        })
        .collect()
}

impl Store {
    /// Hands `each` the merchant's transactions whose money moved from `from`
    /// to `to` (and the payments made then and cancelled), one at a time:
    /// payments, captures, cancels, refunds, then reversals, each oldest first.
    pub async fn day_rows(
        &self,
        merchant: &ClientId,
        from: Timestamp,
        to: Timestamp,
        mut each: impl FnMut(DayRow) -> Result<()>,
    ) -> Result<()> {
        let (lo, hi) = id_range(from, to);
        // Only the cancels read the id range: PostgreSQL refuses parameters a statement does not use.
        for (sql, by_id) in [
            (&*PAYMENTS, false),
            (&*CAPTURES, false),
            (&*CANCELS, true),
            (&*REFUNDS, false),
            (&*REVERSALS, false),
        ] {
            let q = query(sql)
                .bind(merchant.as_str())
                .bind(from.millis())
                .bind(to.millis());
            let q = match by_id {
                true => q.bind(lo.as_str()).bind(hi.as_str()),
                false => q,
            };
            q.for_each(self.read(), |row| each(day_row(&row)?)).await?;
        }
        Ok(())
    }

    /// The sum of a merchant's transaction legs from `from` to `to`, per currency.
    pub async fn merchant_funds(
        &self,
        merchant: &ClientId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(Currency, i64)>> {
        funds_between(self.read(), merchant, from, to).await
    }

    /// [`Store::merchant_funds`] in one currency, per posting reference (the
    /// payment, capture or refund id), for finding what a difference is made of.
    pub async fn merchant_funds_by_reference(
        &self,
        merchant: &ClientId,
        currency: Currency,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(String, i64)>> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT p.reference AS reference, CAST(SUM(l.amount) AS BIGINT) AS total {} \
                 AND l.currency = $7 GROUP BY p.reference ORDER BY p.reference",
                *FUNDS_WHERE
            )
        });
        let (lo, hi) = id_range(from, to);
        let rows = query(&SQL)
            .bind(lo)
            .bind(hi)
            .bind(from.millis())
            .bind(to.millis())
            .bind(Account::MerchantAvailable(merchant.clone()).key())
            .bind(Account::MerchantReserved(merchant.clone()).key())
            .bind(currency.code())
            .fetch_all(self.read())
            .await?;
        rows.iter()
            .map(|r| Ok((get_str(r, "reference")?, get_i64(r, "total")?)))
            .collect()
    }

    /// Payments with a refund that finished from `from` to `to` whose live
    /// refunds exceed what they paid or captured: `(paymentId, refunded, paid)`.
    pub async fn over_refunded_payments(
        &self,
        merchant: &ClientId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(String, i64, i64)>> {
        let rows = query(
            "SELECT p.payment_id, CASE WHEN p.is_authorization <> 0 THEN p.captured ELSE p.amount END AS paid, \
             CAST(SUM(r.amount) AS BIGINT) AS refunded FROM payments p JOIN refunds r ON r.payment_id = p.payment_id \
             WHERE r.status <> 'FAIL' AND p.payment_id IN (SELECT d.payment_id FROM refunds d \
             WHERE d.client_id = $1 AND d.finished_at >= $2 AND d.finished_at < $3) \
             GROUP BY p.payment_id, p.is_authorization, p.captured, p.amount \
             HAVING SUM(r.amount) > CASE WHEN p.is_authorization <> 0 THEN p.captured ELSE p.amount END \
             ORDER BY p.payment_id",
        )
        .bind(merchant.as_str())
        .bind(from.millis())
        .bind(to.millis())
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    get_str(r, "payment_id")?,
                    get_i64(r, "refunded")?,
                    get_i64(r, "paid")?,
                ))
            })
            .collect()
    }
}

impl Tx {
    /// [`Store::merchant_funds`] inside the transaction.
    pub async fn merchant_funds(
        &mut self,
        merchant: &ClientId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(Currency, i64)>> {
        funds_between(self.conn(), merchant, from, to).await
    }

    /// What a capture came to in the settlement currency, and its commission, for its report row.
    pub async fn record_capture_settlement(
        &mut self,
        capture_id: &str,
        settled_minor: i64,
        commission_minor: i64,
    ) -> Result<()> {
        query("UPDATE captures SET settled = $1, commission = $2 WHERE capture_id = $3")
            .bind(settled_minor)
            .bind(commission_minor)
            .bind(capture_id)
            .execute(self.conn())
            .await?;
        Ok(())
    }
}
