//! Refunds.

use crate::db::{query, Db, Param, Row};
use crate::{corrupt, get_i64, get_opt_i64, get_opt_str, get_str, Result, Store, Tx, Writes};
use backflow_domain::fx::{Quote, Rate};
use backflow_domain::payment::AcquirerRef;
use backflow_domain::refund::{Hold, Refund, RefundState, RefundStatus, Settlement, TIMED_OUT};
use backflow_domain::{
    ClientId, Currency, Money, PaymentId, RefundId, RefundRequestId, ResultCode, Timestamp,
};
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
    Ok(Refund {
        id: RefundId::parse(get_str(row, "refund_id")?).map_err(corrupt)?,
        merchant: ClientId::parse(get_str(row, "client_id")?).map_err(corrupt)?,
        request_id: RefundRequestId::parse(get_str(row, "refund_request_id")?).map_err(corrupt)?,
        payment_id: PaymentId::parse(get_str(row, "payment_id")?).map_err(corrupt)?,
        amount: Money::new(currency(row, "currency")?, get_i64(row, "amount")?),
        reason: get_opt_str(row, "reason")?,
        notify_url: get_opt_str(row, "notify_url")?,
        notify_on_final: get_i64(row, "notify_on_final")? != 0,
        acquirer: acquirer_from_row(row)?,
        created_at: Timestamp(get_i64(row, "created_at")?),
        state: state_from_row(row)?,
    })
}

/// The state a row's status and the columns that status fills make; a row
/// whose status lacks what it needs is corrupt.
fn state_from_row(row: &Row) -> Result<RefundState> {
    let status = get_str(row, "status")?;
    let id = get_str(row, "refund_id")?;
    let currency = currency(row, "held_currency")?;
    let hold = Hold {
        amount: Money::new(currency, get_i64(row, "held")?),
        quote: quote_from_row(row)?,
    };
    let code = get_opt_str(row, "result_code")?
        .map(|c| ResultCode::parse(&c).ok_or_else(|| corrupt(c)))
        .transpose()?;
    let finished_at = get_opt_i64(row, "finished_at")?.map(Timestamp);
    let missing = |what: &str| corrupt(format!("{status} refund {id} has no {what}"));
    Ok(
        match RefundStatus::parse(&status).ok_or_else(|| corrupt(&status))? {
            RefundStatus::Processing => RefundState::Processing {
                hold,
                timed_out: match code {
                    None => false,
                    Some(TIMED_OUT) => true,
                    Some(other) => {
                        return Err(corrupt(format!(
                            "processing refund {id} answers {}",
                            other.as_str()
                        )))
                    }
                },
            },
            RefundStatus::WaitingFunds => RefundState::WaitingFunds { currency },
            RefundStatus::Success => {
                let settled =
                    get_opt_i64(row, "settled")?.ok_or_else(|| missing("settled amount"))?;
                let settlement = Settlement {
                    held: hold.amount,
                    settled: Money::new(currency, settled),
                    quote: hold.quote,
                    commission_returned: get_i64(row, "commission_returned")?,
                    finished_at: finished_at.ok_or_else(|| missing("finish time"))?,
                };
                match get_opt_i64(row, "reversed_at")? {
                    None => RefundState::Success(settlement),
                    Some(at) => RefundState::Reversed {
                        settlement,
                        reversed_at: Timestamp(at),
                    },
                }
            }
            RefundStatus::Fail => RefundState::Fail {
                code: code.ok_or_else(|| missing("result code"))?,
                released: hold,
                finished_at: finished_at.ok_or_else(|| missing("finish time"))?,
            },
        },
    )
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
        debug_assert!(matches!(refund.state, RefundState::Processing { .. }));
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
        let mut params = state_params(&r.state).to_vec();
        params.extend([i64::from(r.notify_on_final).into(), r.id.as_str().into()]);
        self.push(
            "UPDATE refunds SET status = $1, result_code = $2, held_currency = $3, held = $4, settled = $5, \
             quote_base = $6, quote_quote = $7, quote_rate = $8, quote_date = $9, commission_returned = $10, \
             reversed_at = $11, finished_at = $12, notify_on_final = $13 WHERE refund_id = $14",
            params,
        );
    }
}

/// A refund's row, in [`REFUND_COLUMNS`] order.
fn insert_params(r: &Refund) -> Vec<Param> {
    let [status, result_code, held_currency, held, settled, quote_base, quote_quote, quote_rate, quote_date, commission_returned, reversed_at, finished_at] =
        state_params(&r.state);
    vec![
        r.id.as_str().into(),
        r.merchant.as_str().into(),
        r.request_id.as_str().into(),
        r.payment_id.as_str().into(),
        r.amount.currency.code().into(),
        r.amount.minor.into(),
        status,
        r.reason.as_deref().into(),
        r.notify_url.as_deref().into(),
        result_code,
        i64::from(r.notify_on_final).into(),
        held_currency,
        held,
        settled,
        quote_base,
        quote_quote,
        quote_rate,
        quote_date,
        commission_returned,
        r.acquirer.as_ref().map(|a| a.name.clone()).into(),
        r.acquirer.as_ref().map(|a| a.merchant_id.clone()).into(),
        r.acquirer.as_ref().map(|a| a.transaction_id.clone()).into(),
        r.acquirer.as_ref().map(|a| a.reference_no.clone()).into(),
        reversed_at,
        r.created_at.millis().into(),
        finished_at,
    ]
}

/// The columns a refund's state fills: status, result code, held currency
/// and amount, settled amount, the quote (base, quote, rate, date),
/// commission given back, reversal and finish times.
fn state_params(state: &RefundState) -> [Param; 12] {
    let (hold, settled, commission_returned, reversed_at) = match state {
        RefundState::Processing { hold, .. } | RefundState::Fail { released: hold, .. } => {
            (Some((hold.amount, hold.quote.as_ref())), None, 0, None)
        }
        RefundState::WaitingFunds { .. } => (None, None, 0, None),
        RefundState::Success(s) => (
            Some((s.held, s.quote.as_ref())),
            Some(s.settled),
            s.commission_returned,
            None,
        ),
        RefundState::Reversed {
            settlement: s,
            reversed_at,
        } => (
            Some((s.held, s.quote.as_ref())),
            Some(s.settled),
            s.commission_returned,
            Some(*reversed_at),
        ),
    };
    let quote = hold.and_then(|(_, q)| q);
    [
        state.status().as_str().into(),
        state.result_code().map(ResultCode::as_str).into(),
        state.settlement_currency().code().into(),
        hold.map_or(0, |(held, _)| held.minor).into(),
        settled.map(|m| m.minor).into(),
        quote.map(|q| q.base.code()).into(),
        quote.map(|q| q.quote.code()).into(),
        quote.map(|q| q.rate.to_decimal_string()).into(),
        quote.map(|q| q.rate_date.clone()).into(),
        commission_returned.into(),
        reversed_at.map(Timestamp::millis).into(),
        state.finished_at().map(Timestamp::millis).into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Value;
    use proptest::prelude::*;

    /// A row of `params` in [`REFUND_COLUMNS`] order, as a query would read it.
    fn row_of(params: Vec<Param>) -> Row {
        let names: Vec<&str> = REFUND_COLUMNS.split(',').map(str::trim).collect();
        let values = params
            .into_iter()
            .map(|p| match p {
                Param::Int(v) => v.map_or(Value::Null, Value::Int),
                Param::Text(v) => v.map_or(Value::Null, Value::Text),
            })
            .collect();
        Row::new(&names, values)
    }

    fn row(r: &Refund) -> Row {
        row_of(insert_params(r))
    }

    fn money(code: &'static str, minor: i64) -> Money {
        Money::new(Currency::parse(code).expect("currency"), minor)
    }

    fn quote() -> impl Strategy<Value = Option<Quote>> {
        proptest::option::of(
            prop_oneof![Just("1.3457"), Just("0.000123"), Just("150")].prop_map(|rate| Quote {
                base: Currency::parse("USD").expect("USD"),
                quote: Currency::parse("SGD").expect("SGD"),
                rate: Rate::parse(rate).expect("rate"),
                rate_date: "2026-03-01".into(),
            }),
        )
    }

    fn state() -> impl Strategy<Value = RefundState> {
        let currency = prop_oneof![Just("USD"), Just("SGD"), Just("JPY")];
        (
            currency,
            0i64..10_000,
            0i64..10_000,
            quote(),
            0i64..100,
            1i64..1 << 40,
        )
            .prop_flat_map(|(code, held, settled, quote, returned, at)| {
                let hold = Hold {
                    amount: money(code, held),
                    quote: quote.clone(),
                };
                let settlement = Settlement {
                    held: money(code, held),
                    settled: money(code, settled),
                    quote,
                    commission_returned: returned,
                    finished_at: Timestamp(at),
                };
                prop_oneof![
                    any::<bool>().prop_map({
                        let hold = hold.clone();
                        move |timed_out| RefundState::Processing {
                            hold: hold.clone(),
                            timed_out,
                        }
                    }),
                    Just(RefundState::WaitingFunds {
                        currency: hold.amount.currency
                    }),
                    Just(RefundState::Success(settlement.clone())),
                    Just(RefundState::Reversed {
                        settlement,
                        reversed_at: Timestamp(at + 1),
                    }),
                    prop_oneof![
                        Just(ResultCode::ProcessFail),
                        Just(ResultCode::MerchantBalanceNotEnough)
                    ]
                    .prop_map(move |code| RefundState::Fail {
                        code,
                        released: hold.clone(),
                        finished_at: Timestamp(at),
                    }),
                ]
            })
    }

    fn refund(state: RefundState, notify_on_final: bool, acquired: bool) -> Refund {
        Refund {
            id: RefundId::parse("F1").expect("id"),
            merchant: ClientId::parse("SANDBOX_M").expect("id"),
            request_id: RefundRequestId::parse("RR").expect("id"),
            payment_id: PaymentId::parse("P1").expect("id"),
            amount: money("USD", 100),
            reason: Some("too big".into()),
            notify_url: None,
            notify_on_final,
            acquirer: acquired.then(|| AcquirerRef {
                name: "2C2P".into(),
                merchant_id: "m".into(),
                transaction_id: "t".into(),
                reference_no: "r".into(),
            }),
            created_at: Timestamp(7),
            state,
        }
    }

    proptest! {
        /// Every state is stored as a row it is read back from unchanged, and
        /// the row it is read from is the row it is stored as.
        #[test]
        fn a_refund_and_its_row_map_both_ways(state in state(), notify in any::<bool>(), acquired in any::<bool>()) {
            let r = refund(state, notify, acquired);
            let read = refund_from_row(&row(&r)).expect("row");
            prop_assert_eq!(&read, &r);
            prop_assert_eq!(insert_params(&read), insert_params(&r));
        }
    }

    #[test]
    fn a_row_without_what_its_status_needs_is_corrupt() {
        let column = |name: &str| {
            REFUND_COLUMNS
                .split(',')
                .position(|c| c.trim() == name)
                .expect("column")
        };
        let settled = Settlement {
            held: money("USD", 5),
            settled: money("USD", 5),
            quote: None,
            commission_returned: 0,
            finished_at: Timestamp(9),
        };
        let mut unsettled = insert_params(&refund(RefundState::Success(settled), false, false));
        unsettled[column("settled")] = Param::Int(None);
        let processing = RefundState::Processing {
            hold: Hold {
                amount: money("USD", 5),
                quote: None,
            },
            timed_out: false,
        };
        let mut answering = insert_params(&refund(processing, false, false));
        answering[column("result_code")] = Param::Text(Some("PROCESS_FAIL".into()));
        for params in [unsettled, answering] {
            assert!(matches!(
                refund_from_row(&row_of(params)),
                Err(crate::StoreError::Corrupt(_))
            ));
        }
    }
}
