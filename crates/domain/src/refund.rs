//! Refunds and the rules that decide whether one may be made.
//!
//! The rules run in the order Antom answers them (docs/wire.md#result-codes):
//! order status → method supports refund → window → currency → partial/multiple
//! policy → amount. The merchant balance comes last and is checked by the
//! ledger, inside the same transaction.

use crate::clock::Timestamp;
use crate::fx::Quote;
use crate::ids::{ClientId, PaymentId, RefundId, RefundRequestId};
use crate::method::MethodCapabilities;
use crate::money::Money;
use crate::payment::{AcquirerRef, Payment, PaymentStatus};

/// Where a refund stands.
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

/// A refund, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: RefundId,
    pub merchant: ClientId,
    pub request_id: RefundRequestId,
    pub payment_id: PaymentId,
    pub amount: Money,
    pub status: RefundStatus,
    pub reason: Option<String>,
    pub notify_url: Option<String>,
    /// The code this refund answers with while it is not a success: why it
    /// failed, or `UNKNOWN_EXCEPTION` while a timed-out channel call is resolved.
    pub result_code: Option<String>,
    /// Whether reaching a final state owes the merchant a notification (the
    /// first answer was not final, or a legacy asynchronous refund).
    pub notify_on_final: bool,
    /// Merchant funds held for the refund, in the settlement currency (zero while waiting for funds).
    pub held: Money,
    /// What the refund cost the merchant, at the rate of the day it succeeded.
    pub settled: Option<Money>,
    /// The rate behind `settled`, when the settlement currency differs from the payment's.
    pub quote: Option<Quote>,
    /// Commission given back to the merchant, in the settlement currency.
    pub commission_returned: i64,
    /// The acquirer that carried the refund (cards through APO).
    pub acquirer: Option<AcquirerRef>,
    /// When the buyer's bank sent a successful refund's money back.
    pub reversed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// Why a refund is refused. Each door maps these to its own result codes.
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
    /// A stable name, used for storage and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::OrderStatusInvalid => "ORDER_STATUS_INVALID",
            Self::ChargebackPending => "CHARGEBACK_PENDING",
            Self::MethodNotSupported => "PAYMENT_METHOD_NOT_SUPPORTED",
            Self::WindowExceeded { .. } => "REFUND_WINDOW_EXCEED",
            Self::CurrencyMismatch => "CURRENCY_NOT_SUPPORT",
            Self::PartialNotSupported => "PARTIAL_REFUND_NOT_SUPPORTED",
            Self::MultipleNotSupported => "MULTIPLE_REFUNDS_NOT_SUPPORTED",
            Self::BelowMinimum { .. } => "REFUND_AMOUNT_BELOW_MINIMUM",
            Self::AmountExceeds { .. } => "REFUND_AMOUNT_EXCEED",
            Self::BalanceNotEnough => "MERCHANT_BALANCE_NOT_ENOUGH",
            Self::RepeatInconsistent => "REPEAT_REQ_INCONSISTENT",
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

    #[test]
    fn repeats_must_match() {
        let r = Refund {
            id: RefundId::parse("F1").unwrap(),
            merchant: ClientId::parse("M").unwrap(),
            request_id: RefundRequestId::parse("RR").unwrap(),
            payment_id: PaymentId::parse("P1").unwrap(),
            amount: usd(10),
            status: RefundStatus::Success,
            reason: None,
            notify_url: None,
            result_code: None,
            notify_on_final: false,
            held: usd(10),
            settled: None,
            quote: None,
            commission_returned: 0,
            acquirer: None,
            reversed_at: None,
            created_at: Timestamp(0),
            finished_at: None,
        };
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

    proptest! {
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
