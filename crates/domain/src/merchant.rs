//! Merchants and their contract terms.

use crate::fx::div_half_even;
use crate::ids::ClientId;
use crate::method::MethodOverride;
use crate::money::Currency;

/// A merchant, as the engine sees it. Key material lives with the store and the engine's key cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    pub client_id: ClientId,
    pub name: String,
    /// The currency the merchant is settled in; `None` settles in each payment's currency.
    pub settlement_currency: Option<Currency>,
    /// Where notifications go when a request names no address.
    pub notify_url: Option<String>,
    /// The legacy gateway's `partner` (16 digits, starting 2088).
    pub legacy_partner_id: String,
    /// The legacy gateway's 32-character MD5 key.
    pub legacy_md5_key: String,
    pub contract: Contract,
}

/// Whether a refund gives the merchant back the commission charged on the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommissionRefund {
    /// The merchant keeps paying the commission of refunded payments.
    #[default]
    None,
    /// Each refund returns the commission's share of what it refunds.
    Proportional,
    /// The first refund returns the payment's whole commission.
    Full,
}

impl CommissionRefund {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Proportional => "PROPORTIONAL",
            Self::Full => "FULL",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "NONE" => Some(Self::None),
            "PROPORTIONAL" => Some(Self::Proportional),
            "FULL" => Some(Self::Full),
            _ => None,
        }
    }

    /// The commission (settlement minor units) a refund returns.
    ///
    /// `payment_commission` was charged on `payment_minor`; `returned` of it
    /// went back already. The refund that completes the payment's refunds
    /// returns the whole remainder, so rounding never leaves a stray unit.
    pub fn returned(
        self,
        payment_commission: i64,
        payment_minor: i64,
        refund_minor: i64,
        refunded_after: i64,
        returned: i64,
    ) -> i64 {
        let remainder = (payment_commission - returned).max(0);
        match self {
            Self::None => 0,
            Self::Full => remainder,
            Self::Proportional if refunded_after >= payment_minor => remainder,
            Self::Proportional => {
                let share = div_half_even(
                    i128::from(payment_commission) * i128::from(refund_minor),
                    i128::from(payment_minor.max(1)),
                );
                i64::try_from(share).unwrap_or(remainder).min(remainder)
            }
        }
    }
}

/// The terms a merchant signed: commission, refund policy, limits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contract {
    /// Commission on each payment, in basis points of its settlement amount.
    pub commission_bps: u32,
    pub commission_refund: CommissionRefund,
    /// Replaces every method's refund window when set.
    pub refund_window_days: Option<u32>,
    /// How far below zero the merchant's available balance may go, in settlement minor units.
    pub overdraft_minor: i64,
    /// The acquirer card payments are routed through (APO), e.g. `2C2P_SG`.
    pub card_acquirer: Option<String>,
    /// Refund requests a second before `REQUEST_TRAFFIC_EXCEED_LIMIT`; the deployment default when unset.
    pub rate_limit_per_second: Option<u32>,
    /// Per payment method changes to the capabilities.
    pub method_overrides: Vec<(String, MethodOverride)>,
    /// The channel the merchant's refunds go to; the deployment's when unset
    /// (the simulator for a sandbox merchant).
    pub refund_channel: Option<String>,
}

/// Commission on `settled_minor`, rounded half-even.
pub fn commission(settled_minor: i64, bps: u32) -> i64 {
    i64::try_from(div_half_even(
        i128::from(settled_minor) * i128::from(bps),
        10_000,
    ))
    .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commission_rounds_half_even() {
        assert_eq!(commission(1000, 250), 25);
        assert_eq!(commission(50, 100), 0); // 0.5 → 0
        assert_eq!(commission(150, 100), 2); // 1.5 → 2
    }

    #[test]
    fn refund_policies_return_what_the_contract_says() {
        assert_eq!(CommissionRefund::None.returned(30, 1000, 500, 500, 0), 0);
        assert_eq!(CommissionRefund::Full.returned(30, 1000, 100, 100, 0), 30);
        assert_eq!(CommissionRefund::Full.returned(30, 1000, 100, 200, 30), 0);
        assert_eq!(
            CommissionRefund::Proportional.returned(30, 1000, 500, 500, 0),
            15
        );
        assert_eq!(
            CommissionRefund::Proportional.returned(31, 1000, 500, 1000, 15),
            16
        );
    }

    proptest! {
        /// Proportional returns never add up past the commission, and a full refund returns all of it.
        #[test]
        fn proportional_returns_sum_to_the_commission(commission in 0i64..10_000, parts in prop::collection::vec(1i64..500, 1..10)) {
            let total: i64 = parts.iter().sum();
            let mut returned = 0;
            let mut refunded = 0;
            for p in &parts {
                refunded += p;
                returned += CommissionRefund::Proportional.returned(commission, total, *p, refunded, returned);
                prop_assert!(returned <= commission);
            }
            prop_assert_eq!(returned, commission);
        }
    }
}
