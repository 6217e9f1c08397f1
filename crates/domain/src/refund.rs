//! Refunds, the states they pass through, and the rules that decide whether
//! one may be made.
//!
//! The rules run in the order Antom answers them (docs/wire.md#result-codes),
//! first refusal wins:
//! order status → chargeback pending → method supports refund → window →
//! currency → multiple refunds → partial refund → minimum amount → refundable
//! amount. The merchant balance comes last and is checked by the ledger,
//! inside the same transaction.
//!
//! A refund's state is a [`RefundState`]: each state carries what it has and
//! nothing else, and the transitions below are the only ways from one to the
//! next.
//!
//! ```text
//! Processing ──succeed──▶ Success ──reverse──▶ Reversed
//!   │    ▲  └─────fail────────────▶ Fail
//!   │    └─hold── WaitingFunds ─fail─▶ Fail
//!   └─wait_for_funds─▶ WaitingFunds
//! ```

use crate::clock::Timestamp;
use crate::code::ResultCode;
use crate::fx::Quote;
use crate::ids::{ClientId, PaymentId, RefundId, RefundRequestId};
use crate::method::MethodCapabilities;
use crate::money::{Currency, Money};
use crate::payment::{AcquirerRef, Payment, PaymentStatus};

/// The code a refund that is not a success answers with.
pub type RefundCode = ResultCode;

/// The code a processing refund answers with while a timed-out channel call is resolved.
pub const TIMED_OUT: ResultCode = ResultCode::UnknownException;

/// Where a refund stands, as stored and as the doors report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    Processing,
    /// Legacy async refunds waiting for the merchant's balance to cover them.
    WaitingFunds,
    Success,
    Fail,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "PROCESSING",
            Self::WaitingFunds => "WAITING_FUNDS",
            Self::Success => "SUCCESS",
            Self::Fail => "FAIL",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "PROCESSING" => Self::Processing,
            "WAITING_FUNDS" => Self::WaitingFunds,
            "SUCCESS" => Self::Success,
            "FAIL" => Self::Fail,
            _ => return None,
        })
    }

    /// Whether the refund's amount counts against what is still refundable.
    pub fn holds_funds(self) -> bool {
        !matches!(self, Self::Fail)
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Success | Self::Fail)
    }
}

/// Merchant funds a refund holds, in the settlement currency, and the rate
/// they were converted at when that differs from the payment's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub amount: Money,
    pub quote: Option<Quote>,
}

/// What a successful refund cost the merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// What the refund held before it settled.
    pub held: Money,
    /// What it cost, at the rate of the day it succeeded.
    pub settled: Money,
    /// The rate behind `settled`, when the settlement currency differs from the payment's.
    pub quote: Option<Quote>,
    /// Commission given back to the merchant, in the settlement currency.
    pub commission_returned: i64,
    pub finished_at: Timestamp,
}

/// Where a refund stands, with what it has there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundState {
    /// Holds its funds; the channel has not answered finally. `timed_out`:
    /// the channel call timed out, so the refund answers [`TIMED_OUT`].
    Processing {
        hold: Hold,
        timed_out: bool,
    },
    /// A legacy asynchronous refund waiting for the merchant's balance to
    /// cover it; it holds nothing and its funds will be held in `currency`.
    WaitingFunds {
        currency: Currency,
    },
    Success(Settlement),
    /// Succeeded, then the buyer's bank sent the money back; it still reports success.
    Reversed {
        settlement: Settlement,
        reversed_at: Timestamp,
    },
    /// Failed with `code`; what it held (possibly nothing) went back to the merchant.
    Fail {
        code: RefundCode,
        released: Hold,
        finished_at: Timestamp,
    },
}

impl RefundState {
    pub fn status(&self) -> RefundStatus {
        match self {
            Self::Processing { .. } => RefundStatus::Processing,
            Self::WaitingFunds { .. } => RefundStatus::WaitingFunds,
            Self::Success(_) | Self::Reversed { .. } => RefundStatus::Success,
            Self::Fail { .. } => RefundStatus::Fail,
        }
    }

    /// The code the refund answers with while it is not a success.
    pub fn result_code(&self) -> Option<ResultCode> {
        match self {
            Self::Processing {
                timed_out: true, ..
            } => Some(TIMED_OUT),
            Self::Fail { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// When the refund reached its final state.
    pub fn finished_at(&self) -> Option<Timestamp> {
        match self {
            Self::Success(s) | Self::Reversed { settlement: s, .. } => Some(s.finished_at),
            Self::Fail { finished_at, .. } => Some(*finished_at),
            Self::Processing { .. } | Self::WaitingFunds { .. } => None,
        }
    }

    /// The currency the refund holds and settles in: the payment's settlement currency.
    pub fn settlement_currency(&self) -> Currency {
        match self {
            Self::Processing { hold, .. } | Self::Fail { released: hold, .. } => {
                hold.amount.currency
            }
            Self::WaitingFunds { currency } => *currency,
            Self::Success(s) | Self::Reversed { settlement: s, .. } => s.held.currency,
        }
    }

    /// The rate the refund's settlement amount was converted at, and that amount.
    pub fn settlement_amount(&self) -> Option<(Money, &Quote)> {
        match self {
            Self::Processing { hold, .. } | Self::Fail { released: hold, .. } => {
                hold.quote.as_ref().map(|q| (hold.amount, q))
            }
            Self::Success(s) | Self::Reversed { settlement: s, .. } => {
                s.quote.as_ref().map(|q| (s.settled, q))
            }
            Self::WaitingFunds { .. } => None,
        }
    }
}

/// A transition a refund's state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {from:?} refund cannot {to}")]
pub struct IllegalTransition {
    pub from: RefundStatus,
    pub to: &'static str,
}

/// A refund, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: RefundId,
    pub merchant: ClientId,
    pub request_id: RefundRequestId,
    pub payment_id: PaymentId,
    pub amount: Money,
    pub reason: Option<String>,
    pub notify_url: Option<String>,
    /// Whether reaching a final state owes the merchant a notification (the
    /// first answer was not final, or a legacy asynchronous refund).
    pub notify_on_final: bool,
    /// The acquirer that carried the refund (cards through APO).
    pub acquirer: Option<AcquirerRef>,
    pub created_at: Timestamp,
    pub state: RefundState,
}

impl Refund {
    pub fn status(&self) -> RefundStatus {
        self.state.status()
    }

    /// See [`RefundState::result_code`].
    pub fn result_code(&self) -> Option<ResultCode> {
        self.state.result_code()
    }

    pub fn finished_at(&self) -> Option<Timestamp> {
        self.state.finished_at()
    }

    fn illegal(&self, to: &'static str) -> IllegalTransition {
        IllegalTransition {
            from: self.status(),
            to,
        }
    }

    /// The channel has not answered finally: the refund stays processing,
    /// and answers [`TIMED_OUT`] if the call timed out.
    pub fn await_channel(&mut self, timed_out: bool) -> Result<(), IllegalTransition> {
        match &mut self.state {
            RefundState::Processing { timed_out: t, .. } => {
                *t = timed_out;
                Ok(())
            }
            _ => Err(self.illegal("await its channel")),
        }
    }

    /// A processing refund whose funds the merchant's balance cannot cover
    /// gives up its hold and waits for funds.
    pub fn wait_for_funds(&mut self) -> Result<(), IllegalTransition> {
        match &self.state {
            RefundState::Processing {
                hold,
                timed_out: false,
            } => {
                self.state = RefundState::WaitingFunds {
                    currency: hold.amount.currency,
                };
                Ok(())
            }
            _ => Err(self.illegal("wait for funds")),
        }
    }

    /// A refund waiting for funds holds them now and is processing again.
    pub fn hold(&mut self, hold: Hold) -> Result<(), IllegalTransition> {
        match &self.state {
            RefundState::WaitingFunds { currency } if *currency == hold.amount.currency => {
                self.state = RefundState::Processing {
                    hold,
                    timed_out: false,
                };
                Ok(())
            }
            _ => Err(self.illegal("hold funds")),
        }
    }

    /// The channel settled a processing refund; returns what it held.
    pub fn succeed(
        &mut self,
        settled: Money,
        quote: Option<Quote>,
        commission_returned: i64,
        at: Timestamp,
    ) -> Result<Money, IllegalTransition> {
        match &self.state {
            RefundState::Processing { hold, .. } if hold.amount.currency == settled.currency => {
                let held = hold.amount;
                self.state = RefundState::Success(Settlement {
                    held,
                    settled,
                    quote,
                    commission_returned,
                    finished_at: at,
                });
                Ok(held)
            }
            _ => Err(self.illegal("succeed")),
        }
    }

    /// A processing refund, or one waiting for funds, fails with `code`;
    /// returns what it held, to be given back.
    pub fn fail(&mut self, code: RefundCode, at: Timestamp) -> Result<Money, IllegalTransition> {
        let released = match &self.state {
            RefundState::Processing { hold, .. } => hold.clone(),
            RefundState::WaitingFunds { currency } => Hold {
                amount: Money::new(*currency, 0),
                quote: None,
            },
            _ => return Err(self.illegal("fail")),
        };
        let held = released.amount;
        self.state = RefundState::Fail {
            code,
            released,
            finished_at: at,
        };
        Ok(held)
    }

    /// The buyer's bank sent a successful refund's money back; returns what
    /// the refund cost the merchant, which is the merchant's again.
    pub fn reverse(&mut self, at: Timestamp) -> Result<Money, IllegalTransition> {
        match &self.state {
            RefundState::Success(settlement) => {
                let settled = settlement.settled;
                self.state = RefundState::Reversed {
                    settlement: settlement.clone(),
                    reversed_at: at,
                };
                Ok(settled)
            }
            _ => Err(self.illegal("be reversed")),
        }
    }
}

/// Why a refund is refused. Each refusal answers with one [`ResultCode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefused {
    #[error("the payment is not in a refundable state")]
    OrderStatusInvalid,
    #[error("a chargeback on this payment is not decided yet")]
    ChargebackPending,
    #[error("the payment method does not support refunds")]
    MethodNotSupported,
    #[error("the refund window of {window_days} days has passed")]
    WindowExceeded { window_days: u32 },
    #[error("the refund currency differs from the payment currency")]
    CurrencyMismatch,
    #[error("this payment method does not allow partial refunds")]
    PartialNotSupported,
    #[error("this payment method allows only one refund")]
    MultipleNotSupported,
    #[error("the refund is below the minimum of {minimum} minor units")]
    BelowMinimum { minimum: i64 },
    #[error("the refund exceeds the refundable amount of {refundable} minor units")]
    AmountExceeds { refundable: i64 },
    #[error("the merchant balance cannot cover the refund")]
    BalanceNotEnough,
    #[error("the refund request id was used for a different refund")]
    RepeatInconsistent,
}

impl RefundRefused {
    /// The code both doors answer the refusal with.
    pub fn code(&self) -> ResultCode {
        match self {
            // Antom has no code of its own for a pending chargeback.
            Self::OrderStatusInvalid | Self::ChargebackPending => ResultCode::OrderStatusInvalid,
            Self::MethodNotSupported => ResultCode::PaymentMethodNotSupported,
            Self::WindowExceeded { .. } => ResultCode::RefundWindowExceed,
            Self::CurrencyMismatch => ResultCode::CurrencyNotSupport,
            Self::PartialNotSupported => ResultCode::PartialRefundNotSupported,
            Self::MultipleNotSupported => ResultCode::MultipleRefundsNotSupported,
            // Antom names one code for both ends of the allowed range.
            Self::BelowMinimum { .. } | Self::AmountExceeds { .. } => {
                ResultCode::RefundAmountExceed
            }
            Self::BalanceNotEnough => ResultCode::MerchantBalanceNotEnough,
            Self::RepeatInconsistent => ResultCode::RepeatReqInconsistent,
        }
    }
}

/// What the rules see of a payment and its earlier refunds, read under the payment's lock.
#[derive(Debug, Clone)]
pub struct RefundContext<'a> {
    pub payment: &'a Payment,
    pub caps: &'a MethodCapabilities,
    /// Sum of the payment's refunds that are processing, waiting or successful.
    pub outstanding_minor: i64,
    /// How many refunds that hold funds the payment already has.
    pub prior_refunds: u32,
    pub now: Timestamp,
}

impl RefundContext<'_> {
    /// What may still be refunded.
    pub fn refundable(&self) -> i64 {
        (self.payment.refundable_base() - self.outstanding_minor).max(0)
    }

    /// Decides whether a refund of `amount` may be made, first refusal wins.
    pub fn check(&self, amount: Money) -> Result<(), RefundRefused> {
        let p = self.payment;
        let captured_or_paid = match p.status {
            PaymentStatus::Success => !p.is_authorization || p.captured_minor > 0,
            _ => false,
        };
        if !captured_or_paid {
            return Err(RefundRefused::OrderStatusInvalid);
        }
        if p.chargeback_pending {
            return Err(RefundRefused::ChargebackPending);
        }
        if !self.caps.refund_supported {
            return Err(RefundRefused::MethodNotSupported);
        }
        let paid_at = p.paid_at.unwrap_or(p.created_at);
        if self.now > paid_at.plus_days(i64::from(self.caps.window_days)) {
            return Err(RefundRefused::WindowExceeded {
                window_days: self.caps.window_days,
            });
        }
        if amount.currency != p.amount.currency {
            return Err(RefundRefused::CurrencyMismatch);
        }
        if !self.caps.multiple_allowed && self.prior_refunds > 0 {
            return Err(RefundRefused::MultipleNotSupported);
        }
        if !self.caps.partial_allowed && amount.minor != p.refundable_base() {
            return Err(RefundRefused::PartialNotSupported);
        }
        let minimum = self.caps.min_refund_minor(amount.currency);
        if amount.minor < minimum {
            return Err(RefundRefused::BelowMinimum { minimum });
        }
        let refundable = self.refundable();
        if amount.minor > refundable {
            return Err(RefundRefused::AmountExceeds { refundable });
        }
        Ok(())
    }
}

/// A repeated `refundRequestId` must carry the same payment, amount and currency.
pub fn check_repeat(
    existing: &Refund,
    payment_id: &PaymentId,
    amount: Money,
) -> Result<(), RefundRefused> {
    if existing.payment_id == *payment_id && existing.amount == amount {
        Ok(())
    } else {
        Err(RefundRefused::RepeatInconsistent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::default_capabilities;
    use crate::money::Currency;
    use crate::payment::ProductCode;
    use crate::PaymentRequestId;
    use proptest::prelude::*;

    fn usd(minor: i64) -> Money {
        Money::new(Currency::parse("USD").unwrap(), minor)
    }

    fn payment(method: &str) -> Payment {
        Payment {
            id: PaymentId::parse("P1").unwrap(),
            merchant: ClientId::parse("SANDBOX_M").unwrap(),
            door: crate::payment::Door::Ams,
            request_id: PaymentRequestId::parse("R1").unwrap(),
            amount: usd(100),
            method_type: method.into(),
            product_code: ProductCode::Agreement,
            status: PaymentStatus::Success,
            is_authorization: false,
            captured_minor: 0,
            capture_closed: false,
            settlement_currency: Currency::parse("USD").unwrap(),
            settled_minor: 100,
            commission_minor: 0,
            acquirer: None,
            chargeback_pending: false,
            notify_url: None,
            created_at: Timestamp(0),
            paid_at: Some(Timestamp(0)),
        }
    }

    fn check(
        p: &Payment,
        outstanding: i64,
        prior: u32,
        now: Timestamp,
        amount: Money,
    ) -> Result<(), RefundRefused> {
        let caps = default_capabilities(&p.method_type, p.acquirer.as_deref());
        RefundContext {
            payment: p,
            caps: &caps,
            outstanding_minor: outstanding,
            prior_refunds: prior,
            now,
        }
        .check(amount)
    }

    #[test]
    fn a_paid_wallet_payment_refunds_up_to_its_amount() {
        let p = payment("GCASH");
        assert_eq!(check(&p, 0, 0, Timestamp(1), usd(100)), Ok(()));
        assert_eq!(check(&p, 40, 1, Timestamp(1), usd(60)), Ok(()));
        assert_eq!(
            check(&p, 40, 1, Timestamp(1), usd(61)),
            Err(RefundRefused::AmountExceeds { refundable: 60 })
        );
    }

    #[test]
    fn unpaid_cancelled_and_uncaptured_payments_are_invalid() {
        for status in [
            PaymentStatus::Processing,
            PaymentStatus::Cancelled,
            PaymentStatus::Fail,
            PaymentStatus::Authorized,
        ] {
            let mut p = payment("GCASH");
            p.status = status;
            assert_eq!(
                check(&p, 0, 0, Timestamp(1), usd(1)),
                Err(RefundRefused::OrderStatusInvalid)
            );
        }
        let mut card = payment("CARD");
        card.is_authorization = true;
        card.captured_minor = 0;
        assert_eq!(
            check(&card, 0, 0, Timestamp(1), usd(1)),
            Err(RefundRefused::OrderStatusInvalid)
        );
        card.captured_minor = 30;
        assert_eq!(check(&card, 0, 0, Timestamp(1), usd(30)), Ok(()));
        assert_eq!(
            check(&card, 0, 0, Timestamp(1), usd(31)),
            Err(RefundRefused::AmountExceeds { refundable: 30 })
        );
    }

    #[test]
    fn the_window_counts_from_payment_success() {
        let p = payment("QRIS");
        assert_eq!(check(&p, 0, 0, Timestamp(0).plus_days(7), usd(1)), Ok(()));
        assert_eq!(
            check(&p, 0, 0, Timestamp(0).plus_days(7).plus_millis(1), usd(1)),
            Err(RefundRefused::WindowExceeded { window_days: 7 })
        );
    }

    #[test]
    fn rules_answer_in_the_documented_order() {
        // Past the window and in the wrong currency and too much: the window is named first.
        let p = payment("QRIS");
        let jpy = Money::new(Currency::parse("JPY").unwrap(), 1000);
        assert!(matches!(
            check(&p, 0, 0, Timestamp(0).plus_days(30), jpy),
            Err(RefundRefused::WindowExceeded { .. })
        ));
        assert_eq!(
            check(&p, 0, 0, Timestamp(1), jpy),
            Err(RefundRefused::CurrencyMismatch)
        );
        let bank = payment("BANK_TRANSFER");
        assert_eq!(
            check(&bank, 100, 1, Timestamp(1), usd(500)),
            Err(RefundRefused::MultipleNotSupported)
        );
        assert_eq!(
            check(&bank, 0, 0, Timestamp(1), usd(50)),
            Err(RefundRefused::PartialNotSupported)
        );
        assert_eq!(check(&bank, 0, 0, Timestamp(1), usd(100)), Ok(()));
    }

    #[test]
    fn chargeback_blocks_refunds() {
        let mut p = payment("CARD");
        p.chargeback_pending = true;
        assert_eq!(
            check(&p, 0, 0, Timestamp(1), usd(1)),
            Err(RefundRefused::ChargebackPending)
        );
    }

    fn refund(state: RefundState) -> Refund {
        Refund {
            id: RefundId::parse("F1").unwrap(),
            merchant: ClientId::parse("M").unwrap(),
            request_id: RefundRequestId::parse("RR").unwrap(),
            payment_id: PaymentId::parse("P1").unwrap(),
            amount: usd(10),
            reason: None,
            notify_url: None,
            notify_on_final: false,
            acquirer: None,
            created_at: Timestamp(0),
            state,
        }
    }

    fn processing(held: i64) -> RefundState {
        RefundState::Processing {
            hold: Hold {
                amount: usd(held),
                quote: None,
            },
            timed_out: false,
        }
    }

    #[test]
    fn repeats_must_match() {
        let r = refund(processing(10));
        assert_eq!(check_repeat(&r, &r.payment_id, usd(10)), Ok(()));
        assert_eq!(
            check_repeat(&r, &r.payment_id, usd(11)),
            Err(RefundRefused::RepeatInconsistent)
        );
        let jpy = Money::new(Currency::parse("JPY").unwrap(), 10);
        assert_eq!(
            check_repeat(&r, &r.payment_id, jpy),
            Err(RefundRefused::RepeatInconsistent)
        );
    }

    #[test]
    fn a_timed_out_refund_answers_unknown_and_a_failed_one_its_code() {
        let mut r = refund(processing(10));
        assert_eq!(r.result_code(), None);
        r.await_channel(true).unwrap();
        assert_eq!(r.result_code(), Some(TIMED_OUT));
        assert_eq!(r.status(), RefundStatus::Processing);
        assert_eq!(r.fail(ResultCode::ProcessFail, Timestamp(5)), Ok(usd(10)));
        assert_eq!(r.result_code(), Some(ResultCode::ProcessFail));
        assert_eq!(r.finished_at(), Some(Timestamp(5)));
    }

    #[test]
    fn a_reversed_refund_still_reports_its_success() {
        let mut r = refund(processing(10));
        assert_eq!(r.succeed(usd(9), None, 1, Timestamp(3)), Ok(usd(10)));
        assert_eq!(r.reverse(Timestamp(4)), Ok(usd(9)));
        assert_eq!(r.status(), RefundStatus::Success);
        assert_eq!(r.finished_at(), Some(Timestamp(3)));
        assert_eq!(r.result_code(), None);
    }

    /// A step a refund's life may try.
    #[derive(Debug, Clone)]
    enum Step {
        AwaitChannel(bool),
        WaitForFunds,
        Hold(i64),
        HoldInAnotherCurrency,
        Succeed(i64),
        Fail,
        Reverse,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            any::<bool>().prop_map(Step::AwaitChannel),
            Just(Step::WaitForFunds),
            (0i64..100).prop_map(Step::Hold),
            Just(Step::HoldInAnotherCurrency),
            (0i64..100).prop_map(Step::Succeed),
            Just(Step::Fail),
            Just(Step::Reverse),
        ]
    }

    /// The transition table, written apart from the code it checks.
    fn allowed(state: &RefundState, step: &Step) -> bool {
        use RefundState as S;
        match step {
            Step::AwaitChannel(_) | Step::Succeed(_) => matches!(state, S::Processing { .. }),
            Step::WaitForFunds => matches!(
                state,
                S::Processing {
                    timed_out: false,
                    ..
                }
            ),
            Step::Hold(_) => matches!(state, S::WaitingFunds { .. }),
            Step::HoldInAnotherCurrency => false,
            Step::Fail => matches!(state, S::Processing { .. } | S::WaitingFunds { .. }),
            Step::Reverse => matches!(state, S::Success(_)),
        }
    }

    proptest! {
        /// Whatever is tried, only the table's transitions happen, a refused
        /// one changes nothing, and a final refund stays final.
        #[test]
        fn a_refund_moves_only_along_its_transitions(steps in prop::collection::vec(step(), 1..30)) {
            let mut r = refund(processing(10));
            for (at, s) in (1..).map(Timestamp).zip(&steps) {
                let before = r.clone();
                let done = match s {
                    Step::AwaitChannel(t) => r.await_channel(*t).is_ok(),
                    Step::WaitForFunds => r.wait_for_funds().is_ok(),
                    Step::Hold(m) => r.hold(Hold { amount: usd(*m), quote: None }).is_ok(),
                    Step::HoldInAnotherCurrency => {
                        let jpy = Money::new(Currency::parse("JPY").unwrap(), 1);
                        r.hold(Hold { amount: jpy, quote: None }).is_ok()
                    }
                    Step::Succeed(m) => match (&before.state, r.succeed(usd(*m), None, 0, at)) {
                        (RefundState::Processing { hold, .. }, Ok(held)) => {
                            prop_assert_eq!(held, hold.amount);
                            true
                        }
                        (_, outcome) => outcome.is_ok(),
                    },
                    Step::Fail => r.fail(ResultCode::ProcessFail, at).is_ok(),
                    Step::Reverse => r.reverse(at).is_ok(),
                };
                prop_assert_eq!(done, allowed(&before.state, s), "{:?} on {:?}", s, before.state);
                if !done {
                    prop_assert_eq!(&r, &before);
                }
                if before.status().is_final() {
                    prop_assert!(r.status().is_final());
                    prop_assert_eq!(r.finished_at(), before.finished_at());
                }
                prop_assert_eq!(r.state.settlement_currency(), before.state.settlement_currency());
            }
        }

        /// However refunds are attempted, accepted ones never add up past what was paid.
        #[test]
        fn accepted_refunds_never_exceed_the_payment(amounts in prop::collection::vec(0i64..60, 1..40), fails in prop::collection::vec(any::<bool>(), 40)) {
            let p = payment("GCASH");
            let mut outstanding = 0;
            let mut prior = 0;
            for (i, a) in amounts.iter().enumerate() {
                if check(&p, outstanding, prior, Timestamp(1), usd(*a)).is_ok() {
                    // A failed refund releases what it held.
                    if !fails[i] {
                        outstanding += a;
                        prior += 1;
                    }
                }
                prop_assert!(outstanding <= p.refundable_base());
            }
        }
    }
}
