//! Read-only queries behind reports: what a merchant's money did over a period.

use crate::db::{query, Row};
use crate::{corrupt, get_i64, get_opt_i64, get_str, Result, Store};
use backflow_domain::payment::Door;
use backflow_domain::{ClientId, Currency, Money, Timestamp};

/// Whether a reported transaction brought money in or sent it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionKind {
    Payment,
    Refund,
}

/// A paid payment or a successful refund, as settlement and reconciliation files list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTransaction {
    pub kind: TransactionKind,
    /// The merchant's id for it: the payment's request id, or the refund's.
    pub reference: String,
    /// The merchant's id for the payment (for a refund, the payment it refunds).
    pub payment_reference: String,
    /// As paid or refunded, in the payment currency.
    pub amount: Money,
    /// What it came to in the settlement currency: for a payment before
    /// commission, for a refund at the rate of the day it succeeded.
    pub settled: Money,
    /// Commission charged (payment) or given back (refund), in the settlement currency.
    pub commission_minor: i64,
    /// When the payment was paid, or the refund succeeded.
    pub at: Timestamp,
}

/// Payments count from when they were paid (captures for authorisations),
/// refunds from when they succeeded; both only through `door`.
const TRANSACTIONS: &str = "\
    SELECT 'P' AS kind, p.payment_request_id AS reference, p.payment_request_id AS payment_reference, \
        p.currency AS currency, CASE WHEN p.is_authorization <> 0 THEN p.captured ELSE p.amount END AS amount, \
        p.settlement_currency AS settled_currency, p.settled AS settled, p.commission AS commission, p.paid_at AS at \
    FROM payments p \
    WHERE p.client_id = $1 AND p.door = $2 AND p.paid_at >= $3 AND p.paid_at < $4 \
    UNION ALL \
    SELECT 'R' AS kind, r.refund_request_id AS reference, p.payment_request_id AS payment_reference, \
        r.currency AS currency, r.amount AS amount, r.held_currency AS settled_currency, r.settled AS settled, \
        r.commission_returned AS commission, r.finished_at AS at \
    FROM refunds r JOIN payments p ON p.payment_id = r.payment_id \
    WHERE r.client_id = $1 AND p.door = $2 AND r.status = 'SUCCESS' AND r.finished_at >= $3 AND r.finished_at < $4 \
    ORDER BY at, kind, reference";

fn transaction_from_row(row: &Row) -> Result<ReportTransaction> {
    let currency = |col| Currency::parse(&get_str(row, col)?).map_err(corrupt);
    let kind = match get_str(row, "kind")?.as_str() {
        "P" => TransactionKind::Payment,
        "R" => TransactionKind::Refund,
        other => return Err(corrupt(other)),
    };
    let settled_currency = currency("settled_currency")?;
    let settled = get_opt_i64(row, "settled")?
        .ok_or_else(|| corrupt("a successful refund without a settled amount"))?;
    Ok(ReportTransaction {
        kind,
        reference: get_str(row, "reference")?,
        payment_reference: get_str(row, "payment_reference")?,
        amount: Money::new(currency("currency")?, get_i64(row, "amount")?),
        settled: Money::new(settled_currency, settled),
        commission_minor: get_i64(row, "commission")?,
        at: Timestamp(get_i64(row, "at")?),
    })
}

impl Store {
    /// The merchant's paid payments and successful refunds made through
    /// `door` from `from` (inclusive) to `to` (exclusive), oldest first.
    pub async fn transactions_between(
        &self,
        merchant: &ClientId,
        door: Door,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ReportTransaction>> {
        let rows = query(TRANSACTIONS)
            .bind(merchant.as_str())
            .bind(door.as_str())
            .bind(from.millis())
            .bind(to.millis())
            .fetch_all(self.read())
            .await?;
        rows.iter().map(transaction_from_row).collect()
    }

    /// The currencies with a rate into `quote` on or before `date` (`YYYY-MM-DD`), in code order.
    pub async fn fx_bases_quoted_in(&self, quote: Currency, date: &str) -> Result<Vec<Currency>> {
        let rows = query(
            "SELECT DISTINCT base FROM fx_rates WHERE quote = $1 AND rate_date <= $2 ORDER BY base",
        )
        .bind(quote.code())
        .bind(date)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| Currency::parse(&get_str(r, "base")?).map_err(corrupt))
            .collect()
    }
}
