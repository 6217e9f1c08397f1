//! What each payment method allows a refund to do. Capabilities are data: these
//! are the defaults from Antom's documentation.

use crate::money::Currency;

/// How a channel answers a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// The refund call itself answers S or F.
    Sync,
    /// The refund call answers `REFUND_IN_PROCESS`; the result comes later.
    Async,
}

/// The refund capabilities of one payment method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodCapabilities {
    pub refund_supported: bool,
    pub partial_allowed: bool,
    pub multiple_allowed: bool,
    /// Days after payment success within which a refund is accepted.
    pub window_days: u32,
    pub completion: Completion,
    /// Minimum refund per currency, in minor units; one minor unit where not listed.
    pub min_refund: Vec<(Currency, i64)>,
}

impl MethodCapabilities {
    pub fn min_refund_minor(&self, currency: Currency) -> i64 {
        self.min_refund
            .iter()
            .find(|(c, _)| *c == currency)
            .map_or(1, |&(_, m)| m)
    }

    fn new(completion: Completion, window_days: u32) -> Self {
        Self {
            refund_supported: true,
            partial_allowed: true,
            multiple_allowed: true,
            window_days,
            completion,
            min_refund: Vec::new(),
        }
    }
}

/// Alipay+ wallets: refunds are synchronous.
pub const ALIPAY_PLUS_WALLETS: &[&str] = &[
    "ALIPAY_CN",
    "ALIPAY_HK",
    "ALIPAY_PLUS",
    "GCASH",
    "DANA",
    "TNG",
    "KAKAOPAY",
    "TRUEMONEY",
    "BOOST",
    "RABBIT_LINE_PAY",
    "TOSSPAY",
    "EASYPAISA",
    "BKASH",
    "NAVERPAY",
    "GRABPAY_MY",
];

/// Acquirers through which card refunds are synchronous.
pub const SYNC_CARD_ACQUIRERS: &[&str] = &["2C2P_HK", "2C2P_SG"];

pub fn is_wallet(method_type: &str) -> bool {
    ALIPAY_PLUS_WALLETS.contains(&method_type)
}

pub fn is_card(method_type: &str) -> bool {
    method_type == "CARD"
}

/// The documented defaults for a method, given the acquirer a card payment was routed through.
pub fn default_capabilities(method_type: &str, acquirer: Option<&str>) -> MethodCapabilities {
    match method_type {
        m if is_wallet(m) => {
            let mut caps = MethodCapabilities::new(Completion::Sync, 365);
            if m == "KAKAOPAY" {
                if let Ok(krw) = Currency::parse("KRW") {
                    caps.min_refund.push((krw, 50));
                }
            }
            caps
        }
        "CARD" if acquirer.is_some_and(|a| SYNC_CARD_ACQUIRERS.contains(&a)) => {
            MethodCapabilities::new(Completion::Sync, 365)
        }
        "QRIS" => MethodCapabilities::new(Completion::Async, 7),
        "BANK_TRANSFER" => MethodCapabilities {
            partial_allowed: false,
            multiple_allowed: false,
            ..MethodCapabilities::new(Completion::Async, 180)
        },
        _ => MethodCapabilities::new(Completion::Async, 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallets_are_sync_for_a_year() {
        let caps = default_capabilities("GCASH", None);
        assert_eq!(caps.completion, Completion::Sync);
        assert_eq!(caps.window_days, 365);
    }

    #[test]
    fn cards_are_sync_only_through_2c2p() {
        assert_eq!(
            default_capabilities("CARD", Some("2C2P_SG")).completion,
            Completion::Sync
        );
        assert_eq!(
            default_capabilities("CARD", None).completion,
            Completion::Async
        );
    }

    #[test]
    fn kakaopay_minimum_is_50_krw() {
        let krw = Currency::parse("KRW").unwrap();
        let usd = Currency::parse("USD").unwrap();
        let caps = default_capabilities("KAKAOPAY", None);
        assert_eq!(caps.min_refund_minor(krw), 50);
        assert_eq!(caps.min_refund_minor(usd), 1);
    }

    #[test]
    fn bank_transfer_is_one_full_refund_within_180_days() {
        let caps = default_capabilities("BANK_TRANSFER", None);
        assert!(!caps.partial_allowed && !caps.multiple_allowed);
        assert_eq!(caps.window_days, 180);
    }
}
