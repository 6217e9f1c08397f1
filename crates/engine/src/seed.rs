//! Demo history for one merchant: payments by several methods and currencies,
//! settled through FX, and refunds in every state, for screenshots, demos and
//! benchmarks (`backflow seed`, docs/portal-testing.md).
//!
//! Each row is what the use cases would have left after the payment's or the
//! refund's life: the final payment and refund rows, every ledger posting
//! their steps made (payment received, refund reserved, settled, released,
//! reversed), and the jobs a refund still waiting on its channel or on funds
//! needs. They go in through the store's write paths, many thousands a
//! transaction. A merchant whose available balance would go below its floor
//! is topped up first with a funding posting, as a merchant sends money in.
//! Seeded history owes no notifications: none are written.

use crate::channels::{Settle, Simulator, SIMULATED_ASYNC_MS};
use crate::error::{EngineError, Result};
use crate::ids::{new_id, random_digits, random_token, IdKind};
use crate::refunds::{COMPLETE_REFUND, FUNDS_RETRY_MS, RETRY_FUNDS};
use crate::Engine;
use backflow_domain::fx::{Quote, Rate};
use backflow_domain::ledger::{self, Posting, PostingKind};
use backflow_domain::merchant::{commission, Merchant};
use backflow_domain::method::{is_card, Completion, MethodCapabilities};
use backflow_domain::payment::{Door, Payment, PaymentStatus, ProductCode};
use backflow_domain::refund::{Hold, Refund, RefundContext, RefundState, RefundStatus, Settlement};
use backflow_domain::{
    ClientId, Currency, Money, PaymentId, PaymentRequestId, RefundId, RefundRequestId, ResultCode,
    Timestamp,
};
use backflow_store::{Floors, Writes};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedPlan {
    pub merchant: ClientId,
    pub payments: u64,
    /// Refunds per successful payment, on average (0.3: three for every ten).
    pub refunds_per_payment: f64,
    /// Days of history, ending now.
    pub days: u32,
    /// The same seed gives the same amounts, methods and states.
    pub rng_seed: u64,
}

/// What was seeded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedTally {
    pub payments: u64,
    /// Payments by status.
    pub payment_states: BTreeMap<&'static str, u64>,
    pub refunds: u64,
    /// Refunds by state; `REVERSED` counts successful refunds whose money came back.
    pub refund_states: BTreeMap<&'static str, u64>,
    /// Funding postings made so that no refund took a balance below its floor.
    pub top_ups: u64,
}

/// Payments a transaction: large enough that the commit is rare, small
/// enough that a SQLite savepoint's undo stays in memory.
const BATCH: u64 = 5_000;
/// Refunds this recent may still be processing or waiting for funds.
const RECENT_MS: i64 = 2 * Timestamp::MS_PER_DAY;

/// A kind of payment the merchant takes: method, product, door, currencies, weight.
struct Mix {
    method: &'static str,
    product: ProductCode,
    door: Door,
    currencies: &'static [&'static str],
    weight: u32,
}

const MIXES: &[Mix] = &[
    Mix {
        method: "ALIPAY_CN",
        product: ProductCode::Agreement,
        door: Door::Ams,
        currencies: &["CNY"],
        weight: 18,
    },
    Mix {
        method: "GCASH",
        product: ProductCode::Agreement,
        door: Door::Ams,
        currencies: &["PHP"],
        weight: 8,
    },
    Mix {
        method: "KAKAOPAY",
        product: ProductCode::Agreement,
        door: Door::Ams,
        currencies: &["KRW"],
        weight: 8,
    },
    Mix {
        method: "CARD",
        product: ProductCode::Cashier,
        door: Door::Ams,
        currencies: &["USD", "EUR", "JPY"],
        weight: 26,
    },
    Mix {
        method: "QRIS",
        product: ProductCode::Cashier,
        door: Door::Ams,
        currencies: &["IDR"],
        weight: 5,
    },
    Mix {
        method: "BANK_TRANSFER",
        product: ProductCode::Cashier,
        door: Door::Ams,
        currencies: &["EUR"],
        weight: 5,
    },
    // The legacy gateway: priced in the settlement currency or in CNY.
    Mix {
        method: "ALIPAY_CN",
        product: ProductCode::Cashier,
        door: Door::Legacy,
        currencies: &["USD", "JPY", "EUR", "CNY"],
        weight: 30,
    },
];

/// Typical payment sizes, in major units.
fn major_range(currency: &str) -> (i64, i64) {
    match currency {
        "JPY" => (300, 120_000),
        "KRW" => (3_000, 1_500_000),
        "CNY" => (5, 6_000),
        "PHP" => (50, 40_000),
        "IDR" => (10_000, 12_000_000),
        _ => (1, 900),
    }
}

/// How a seeded refund ends up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Success,
    Fail,
    Reversed,
    Processing,
    WaitingFunds,
}

const FATES: [Fate; 5] = [
    Fate::Success,
    Fate::Fail,
    Fate::Reversed,
    Fate::Processing,
    Fate::WaitingFunds,
];

/// The exchange rates table, in memory: per pair, (day, rate) by day.
struct Rates(HashMap<(Currency, Currency), Vec<(String, Rate)>>);

impl Rates {
    /// `money` in `target` on the day of `at`, as the engine settles it.
    fn convert(
        &self,
        money: Money,
        target: Currency,
        at: Timestamp,
    ) -> Result<(Money, Option<Quote>)> {
        if money.currency == target {
            return Ok((money, None));
        }
        let day = at.date_string();
        let (date, rate) = self
            .0
            .get(&(money.currency, target))
            .and_then(|days| {
                let n = days.partition_point(|(d, _)| *d <= day);
                n.checked_sub(1).map(|i| &days[i])
            })
            .ok_or_else(|| {
                EngineError::Invalid(format!(
                    "no exchange rate {}/{target} on or before {day}: import one with `backflow fx import`",
                    money.currency
                ))
            })?;
        let settled = rate
            .convert(money, target)
            .ok_or_else(|| EngineError::Invalid("the amount is too large to convert".into()))?;
        let quote = Quote {
            base: money.currency,
            quote: target,
            rate: *rate,
            rate_date: date.clone(),
        };
        Ok((settled, Some(quote)))
    }
}

/// What one refund is asked to be.
#[derive(Clone, Copy)]
struct RefundAsk<'p> {
    payment: &'p Payment,
    /// The channel answers later (its method completes asynchronously).
    asynchronous: bool,
    amount: Money,
    /// When it was accepted.
    at: Timestamp,
    fate: Fate,
    /// What the payment's earlier refunds that hold funds add up to.
    outstanding: i64,
    /// Commission they gave back.
    returned: i64,
}

/// A job row the batch adds.
struct JobRow {
    kind: &'static str,
    subject: String,
    payload: String,
    run_at: Timestamp,
}

/// One transaction's rows.
#[derive(Default)]
struct Batch {
    payments: Vec<Payment>,
    writes: Writes,
    jobs: Vec<JobRow>,
}

struct Seeder<'a> {
    engine: &'a Engine,
    merchant: Merchant,
    rng: StdRng,
    rates: Rates,
    /// Where payments in currencies without a balance of their own settle.
    usd: Currency,
    now: Timestamp,
    start: Timestamp,
    span_ms: i64,
    refunds_per_payment: f64,
    /// The merchant's available balance per settlement currency, as the batches leave it.
    available: HashMap<Currency, i64>,
    /// Fates not produced yet: the first refund that may have one gets it.
    missing: Vec<Fate>,
    tally: SeedTally,
}

impl Engine {
    /// Seeds `plan.payments` payments and their refunds for one merchant;
    /// `progress` hears the payments written so far after each transaction.
    pub async fn seed(&self, plan: &SeedPlan, mut progress: impl FnMut(u64)) -> Result<SeedTally> {
        if !(0.0..=10.0).contains(&plan.refunds_per_payment) {
            return Err(EngineError::Invalid(
                "refunds per payment must be between 0 and 10".into(),
            ));
        }
        if plan.days == 0 {
            return Err(EngineError::Invalid("days must be at least 1".into()));
        }
        let merchant = self
            .store()
            .merchant(&plan.merchant)
            .await?
            .ok_or(EngineError::UnknownMerchant)?;
        self.seed_demo_rates().await?;
        let mut rates: HashMap<_, Vec<_>> = HashMap::new();
        for r in self.store().fx_rates(None).await? {
            rates
                .entry((r.base, r.quote))
                .or_default()
                .push((r.date, r.rate));
        }
        let mut available = HashMap::new();
        let available_account = format!("merchant:{}:available", merchant.client_id);
        for b in self
            .store()
            .merchant_balances(&merchant.client_id)
            .await?
            .into_iter()
            .filter(|b| b.account == available_account)
        {
            if let Ok(c) = Currency::parse(&b.currency) {
                available.insert(c, b.balance);
            }
        }
        let now = self.now();
        let span_ms = i64::from(plan.days) * Timestamp::MS_PER_DAY;
        let mut seeder = Seeder {
            engine: self,
            merchant,
            rng: StdRng::seed_from_u64(plan.rng_seed),
            rates: Rates(rates),
            usd: Currency::parse("USD").map_err(invalid)?,
            now,
            start: now.plus_millis(-span_ms),
            span_ms,
            refunds_per_payment: plan.refunds_per_payment,
            available,
            missing: FATES.to_vec(),
            tally: SeedTally::default(),
        };
        let mut done = 0;
        while done < plan.payments {
            let n = BATCH.min(plan.payments - done);
            let batch = seeder.batch(done, n, plan.payments)?;
            let mut tx = self.store().begin().await?;
            for p in &batch.payments {
                tx.insert_payment(p).await?.must_be_new()?;
            }
            tx.write(batch.writes).await?.must_stand()?;
            for j in &batch.jobs {
                tx.insert_job(
                    &new_id(IdKind::Posting, now),
                    j.kind,
                    &j.subject,
                    &j.payload,
                    j.run_at,
                    now,
                )
                .await?
                .must_be_new()?;
            }
            tx.commit().await?;
            done += n;
            progress(done);
        }
        Ok(seeder.tally)
    }
}

impl Seeder<'_> {
    /// Payments `first..first + n` of `total`, oldest first, with their refunds.
    fn batch(&mut self, first: u64, n: u64, total: u64) -> Result<Batch> {
        let mut batch = Batch::default();
        for i in first..first + n {
            // Evenly over the span, a little jitter, never in the future.
            let slot = self.span_ms as i128 * i128::from(i) / i128::from(total.max(1));
            let jitter = self.rng.random_range(0..60_000);
            let at = self
                .start
                .plus_millis(slot as i64 + jitter)
                .min(self.now.plus_millis(-1_000));
            let payment = self.payment(at, &mut batch)?;
            if payment.status == PaymentStatus::Success {
                self.refunds(&payment, &mut batch)?;
            }
            *self
                .tally
                .payment_states
                .entry(payment.status.as_str())
                .or_default() += 1;
            self.tally.payments += 1;
            batch.payments.push(payment);
        }
        Ok(batch)
    }

    fn pick_mix(&mut self) -> &'static Mix {
        let total: u32 = MIXES.iter().map(|m| m.weight).sum();
        let mut roll = self.rng.random_range(0..total);
        for m in MIXES {
            if roll < m.weight {
                return m;
            }
            roll -= m.weight;
        }
        &MIXES[0]
    }

    fn amount(&mut self, code: &str) -> Result<Money> {
        let currency = Currency::parse(code).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let (lo, hi) = major_range(code);
        let unit = 10i64.pow(u32::from(currency.exponent()));
        let major = self.rng.random_range(lo..=hi);
        let cents = match unit {
            1 => 0,
            _ => self.rng.random_range(0..unit),
        };
        Ok(Money::new(currency, major * unit + cents))
    }

    /// A payment made at `at`; a successful one's money reaches the merchant.
    fn payment(&mut self, at: Timestamp, batch: &mut Batch) -> Result<Payment> {
        let mix = self.pick_mix();
        let code = mix.currencies[self.rng.random_range(0..mix.currencies.len())];
        let amount = self.amount(code)?;
        let settlement_currency = match mix.door {
            // The legacy gateway's `currency` is the settlement currency; CNY prices settle in USD.
            Door::Legacy if code == "CNY" => self.usd,
            Door::Legacy => amount.currency,
            Door::Ams => match self.merchant.settlement_currency {
                Some(c) => c,
                None if matches!(code, "USD" | "EUR" | "JPY") => amount.currency,
                None => self.usd,
            },
        };
        let card = is_card(mix.method);
        let roll = self.rng.random_range(0..100);
        let status = match roll {
            0 => PaymentStatus::Cancelled,
            1 if mix.product == ProductCode::Cashier => PaymentStatus::Processing,
            2 if card => PaymentStatus::Authorized,
            _ => PaymentStatus::Success,
        };
        let paid_at = (status == PaymentStatus::Success).then(|| {
            at.plus_millis(self.rng.random_range(1_000..90_000))
                .min(self.now)
        });
        let mut payment = Payment {
            id: PaymentId::parse(new_id(IdKind::Payment, at)).map_err(invalid)?,
            merchant: self.merchant.client_id.clone(),
            door: mix.door,
            request_id: PaymentRequestId::parse(ordered_request_id("ORDER", at))
                .map_err(invalid)?,
            amount,
            method_type: mix.method.to_owned(),
            product_code: mix.product,
            status,
            is_authorization: status == PaymentStatus::Authorized,
            captured_minor: 0,
            capture_closed: false,
            settlement_currency,
            settled_minor: 0,
            commission_minor: 0,
            acquirer: card
                .then(|| self.merchant.contract.card_acquirer.clone())
                .flatten(),
            chargeback_pending: false,
            notify_url: None,
            created_at: at,
            paid_at,
        };
        if let Some(paid_at) = paid_at {
            let (settled, _) = self.rates.convert(amount, settlement_currency, paid_at)?;
            let fee = commission(settled.minor, self.merchant.contract.commission_bps);
            let posting = ledger::payment_received(
                &payment.merchant,
                payment.id.as_str(),
                amount,
                settled,
                fee,
            );
            self.post(batch, &posting, paid_at, true);
            payment.settled_minor = settled.minor;
            payment.commission_minor = fee;
        }
        Ok(payment)
    }

    /// The refunds of a successful payment, each checked by the refund rules.
    fn refunds(&mut self, payment: &Payment, batch: &mut Batch) -> Result<()> {
        let whole = self.refunds_per_payment.trunc() as u32;
        let extra = self.rng.random_bool(self.refunds_per_payment.fract());
        let count = whole + u32::from(extra);
        if count == 0 {
            return Ok(());
        }
        let caps = self.engine.capabilities(payment, &self.merchant.contract);
        let paid_at = payment.paid_at.unwrap_or(payment.created_at);
        let mut at = paid_at;
        let mut outstanding = 0;
        let mut prior = 0;
        let mut returned = 0;
        for _ in 0..count {
            let reach = i64::from(caps.window_days.min(45)) * Timestamp::MS_PER_DAY;
            let room = paid_at.plus_millis(reach).min(self.now).millis() - at.millis();
            if room < 120_000 {
                break;
            }
            at = at.plus_millis(self.rng.random_range(60_000..room));
            let base = payment.refundable_base();
            let remaining = base - outstanding;
            let minimum = caps.min_refund_minor(payment.amount.currency);
            let minor = if !caps.partial_allowed || self.rng.random_bool(0.35) {
                remaining
            } else {
                let share = remaining * self.rng.random_range(10..70) / 100;
                share.max(minimum).min(remaining)
            };
            let amount = Money::new(payment.amount.currency, minor);
            let allowed = RefundContext {
                payment,
                caps: &caps,
                outstanding_minor: outstanding,
                prior_refunds: prior,
                now: at,
            }
            .check(amount);
            if allowed.is_err() {
                break;
            }
            let ask = RefundAsk {
                payment,
                asynchronous: caps.completion == Completion::Async,
                amount,
                at,
                fate: self.fate(payment, &caps, at),
                outstanding,
                returned,
            };
            let refund = self.refund(&ask, batch)?;
            if refund.status() != RefundStatus::Fail {
                outstanding += minor;
                prior += 1;
            }
            let state = match &refund.state {
                RefundState::Success(s) => {
                    returned += s.commission_returned;
                    "SUCCESS"
                }
                RefundState::Reversed { settlement, .. } => {
                    returned += settlement.commission_returned;
                    "REVERSED"
                }
                other => other.status().as_str(),
            };
            *self.tally.refund_states.entry(state).or_default() += 1;
            self.tally.refunds += 1;
            batch.writes.insert_refund(&refund);
        }
        Ok(())
    }

    /// A fate the refund may have: one not produced yet if it may, else by weight.
    fn fate(&mut self, payment: &Payment, caps: &MethodCapabilities, at: Timestamp) -> Fate {
        let age = self.now.millis() - at.millis();
        let recent = age < RECENT_MS;
        let may = |fate: Fate| match fate {
            Fate::Processing => recent && caps.completion == Completion::Async,
            // Only a legacy asynchronous refund waits for funds.
            Fate::WaitingFunds => recent && payment.door == Door::Legacy,
            Fate::Success | Fate::Fail => true,
            // The money came back some days after the refund succeeded.
            Fate::Reversed => age > 4 * Timestamp::MS_PER_DAY,
        };
        if let Some(i) = self.missing.iter().position(|f| may(*f)) {
            return self.missing.remove(i);
        }
        let roll = self.rng.random_range(0..100);
        let wanted = match (recent, roll) {
            (true, 0..40) => Fate::Processing,
            (true, 40..55) => Fate::WaitingFunds,
            (_, 0..8) => Fate::Fail,
            (false, 8..12) => Fate::Reversed,
            _ => Fate::Success,
        };
        if may(wanted) {
            wanted
        } else {
            Fate::Success
        }
    }

    /// One refund, its postings and jobs, as its fate leaves it.
    fn refund(&mut self, ask: &RefundAsk<'_>, batch: &mut Batch) -> Result<Refund> {
        let RefundAsk {
            payment,
            asynchronous,
            amount,
            at,
            fate,
            outstanding,
            returned: returned_before,
        } = *ask;
        let settlement = payment.settlement_currency;
        let (held, quote) = self.rates.convert(amount, settlement, at)?;
        let legacy_async = payment.door == Door::Legacy
            && (fate == Fate::WaitingFunds || self.rng.random_bool(0.5));
        let mut refund = Refund {
            id: RefundId::parse(new_id(IdKind::Refund, at)).map_err(invalid)?,
            merchant: payment.merchant.clone(),
            request_id: RefundRequestId::parse(ordered_request_id("REFUND", at))
                .map_err(invalid)?,
            payment_id: payment.id.clone(),
            amount,
            reason: REASONS[self.rng.random_range(0..REASONS.len())].map(str::to_owned),
            notify_url: None,
            // Only refunds that are not final yet still owe their notification.
            notify_on_final: matches!(fate, Fate::Processing | Fate::WaitingFunds)
                && (payment.door == Door::Ams || legacy_async),
            acquirer: Simulator::acquirer_ref(payment),
            created_at: at,
            state: RefundState::Processing {
                hold: Hold {
                    amount: held,
                    quote: quote.clone(),
                },
                timed_out: false,
            },
        };
        if fate == Fate::WaitingFunds {
            // Nothing is held until a retry finds the funds.
            refund.state = RefundState::WaitingFunds {
                currency: settlement,
            };
            let waited = (self.now.millis() - at.millis()) / FUNDS_RETRY_MS + 1;
            batch.jobs.push(JobRow {
                kind: RETRY_FUNDS,
                subject: refund.id.as_str().to_owned(),
                payload: String::new(),
                run_at: at.plus_millis(waited * FUNDS_RETRY_MS),
            });
            return Ok(refund);
        }
        let reserve = ledger::refund_reserved(&refund.merchant, refund.id.as_str(), held);
        self.post(batch, &reserve, at, true);
        let finished = match asynchronous {
            true => at.plus_millis(SIMULATED_ASYNC_MS + self.rng.random_range(0..3_600_000)),
            false => at.plus_millis(self.rng.random_range(200..2_000)),
        }
        .min(self.now);
        match fate {
            Fate::Fail => {
                let released = ledger::refund_released(&refund.merchant, refund.id.as_str(), held);
                self.post(batch, &released, finished, true);
                refund.state = RefundState::Fail {
                    code: FAILURES[self.rng.random_range(0..FAILURES.len())],
                    released: Hold {
                        amount: held,
                        quote,
                    },
                    finished_at: finished,
                };
            }
            Fate::Success | Fate::Reversed => {
                let (settled, quote) = self.rates.convert(amount, settlement, finished)?;
                let returned = self.merchant.contract.commission_refund.returned(
                    payment.commission_minor,
                    payment.refundable_base(),
                    amount.minor,
                    outstanding + amount.minor,
                    returned_before,
                );
                let posting = ledger::refund_settled(
                    &refund.merchant,
                    refund.id.as_str(),
                    held,
                    settled,
                    amount,
                    returned,
                );
                // As the engine settles: the money has left, a dearer rate is not refused.
                self.post(batch, &posting, finished, false);
                let settlement = Settlement {
                    held,
                    settled,
                    quote,
                    commission_returned: returned,
                    finished_at: finished,
                };
                refund.state = RefundState::Success(settlement.clone());
                if fate == Fate::Reversed {
                    let back = finished
                        .plus_millis(
                            self.rng
                                .random_range(Timestamp::MS_PER_DAY..3 * Timestamp::MS_PER_DAY),
                        )
                        .min(self.now);
                    let posting = ledger::refund_reversed(
                        &refund.merchant,
                        refund.id.as_str(),
                        amount,
                        settled,
                    );
                    self.post(batch, &posting, back, true);
                    refund.state = RefundState::Reversed {
                        settlement,
                        reversed_at: back,
                    };
                }
            }
            // Processing (a refund waiting for funds went back above): the
            // channel answers within the next day and a half.
            Fate::Processing | Fate::WaitingFunds => {
                let answer_in = self.rng.random_range(600_000..36 * 3_600_000);
                batch.jobs.push(JobRow {
                    kind: COMPLETE_REFUND,
                    subject: refund.id.as_str().to_owned(),
                    payload: Settle::Success.encode(),
                    run_at: self.now.plus_millis(answer_in),
                });
            }
        }
        Ok(refund)
    }

    /// Adds a posting, topping the merchant up first where it would take the
    /// available balance below the contract's floor.
    fn post(&mut self, batch: &mut Batch, posting: &Posting, at: Timestamp, enforce: bool) {
        let overdraft = self.merchant.contract.overdraft_minor;
        let merchant_key = ledger::Account::MerchantAvailable(self.merchant.client_id.clone());
        for leg in posting.legs.iter().filter(|l| l.account == merchant_key) {
            let balance = self.available.entry(leg.currency).or_default();
            if *balance + leg.amount < -overdraft {
                let unit = 10i64.pow(u32::from(leg.currency.exponent()));
                let top_up = Money::new(
                    leg.currency,
                    (-overdraft - *balance - leg.amount).max(10_000 * unit),
                );
                *balance += top_up.minor;
                let reference = format!("seed-top-up-{}", random_token(12));
                let funding = ledger::funding(
                    PostingKind::Funding,
                    &self.merchant.client_id,
                    &reference,
                    top_up,
                );
                batch.writes.post(
                    &funding,
                    &new_id(IdKind::Posting, at),
                    at,
                    Floors::enforced(overdraft),
                );
                self.tally.top_ups += 1;
            }
            *self.available.entry(leg.currency).or_default() += leg.amount;
        }
        let floors = Floors {
            overdraft_minor: overdraft,
            enforce,
        };
        batch
            .writes
            .post(posting, &new_id(IdKind::Posting, at), at, floors);
    }
}

const REASONS: &[Option<&str>] = &[
    Some("Customer returned the item"),
    Some("Out of stock"),
    Some("Duplicate order"),
    Some("Late delivery"),
    None,
];

const FAILURES: &[ResultCode] = &[
    ResultCode::ProcessFail,
    ResultCode::OrderIsClosed,
    ResultCode::RiskReject,
];

/// A merchant's request id, time first: each one goes in at the end of the
/// request-id index, where random ones made every insert touch a page of
/// its own (the seed slowed down as the database grew past the page cache).
fn ordered_request_id(prefix: &str, at: Timestamp) -> String {
    format!("{prefix}-{}-{}", at.compact_date_time(), random_digits(10))
}

fn invalid(e: impl std::fmt::Display) -> EngineError {
    EngineError::Invalid(e.to_string())
}
