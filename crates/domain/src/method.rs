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

/// A change to a method's capabilities, from the deployment's configuration or a merchant's contract.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MethodOverride {
    pub refund_supported: Option<bool>,
    pub partial_allowed: Option<bool>,
    pub multiple_allowed: Option<bool>,
    pub window_days: Option<u32>,
    pub completion: Option<Completion>,
    /// Replaces the minimum for each listed currency.
    pub min_refund: Vec<(Currency, i64)>,
}

impl MethodOverride {
    /// Parses `METHOD:key=value,key=value`, the one text form used by the
    /// CLI, the deployment's method file and storage. Keys: `refund_supported`,
    /// `partial_allowed`, `multiple_allowed` (true/false), `window_days`,
    /// `completion` (sync/async), `min_refund.CCY` (minor units).
    pub fn parse(text: &str) -> Result<(String, Self), String> {
        let (method, settings) = text
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("{text:?}: expected METHOD:key=value,…"))?;
        let method = method.trim();
        if method.is_empty() {
            return Err(format!("{text:?}: no payment method named"));
        }
        let mut o = Self::default();
        for setting in settings.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = setting
                .split_once('=')
                .ok_or_else(|| format!("{setting:?}: expected key=value"))?;
            let (key, value) = (key.trim(), value.trim());
            let flag = || {
                value
                    .parse::<bool>()
                    .map_err(|_| format!("{key}: expected true or false, got {value:?}"))
            };
            match key {
                "refund_supported" => o.refund_supported = Some(flag()?),
                "partial_allowed" => o.partial_allowed = Some(flag()?),
                "multiple_allowed" => o.multiple_allowed = Some(flag()?),
                "window_days" => {
                    o.window_days =
                        Some(value.parse().map_err(|_| {
                            format!("window_days: {value:?} is not a number of days")
                        })?)
                }
                "completion" => {
                    o.completion = Some(match value {
                        "sync" => Completion::Sync,
                        "async" => Completion::Async,
                        _ => {
                            return Err(format!(
                                "completion: expected sync or async, got {value:?}"
                            ))
                        }
                    })
                }
                k => match k.strip_prefix("min_refund.") {
                    Some(code) => {
                        let currency = Currency::parse(code).map_err(|e| e.to_string())?;
                        let minimum =
                            value
                                .parse::<i64>()
                                .ok()
                                .filter(|m| *m > 0)
                                .ok_or_else(|| {
                                    format!(
                                        "{k}: {value:?} is not a positive number of minor units"
                                    )
                                })?;
                        o.min_refund.push((currency, minimum));
                    }
                    None => return Err(format!("unknown setting {k:?}")),
                },
            }
        }
        Ok((method.to_owned(), o))
    }

    /// The text form [`MethodOverride::parse`] reads.
    pub fn render(&self, method: &str) -> String {
        let mut parts = Vec::new();
        let flags = [
            ("refund_supported", self.refund_supported),
            ("partial_allowed", self.partial_allowed),
            ("multiple_allowed", self.multiple_allowed),
        ];
        for (k, v) in flags {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        }
        if let Some(d) = self.window_days {
            parts.push(format!("window_days={d}"));
        }
        if let Some(c) = self.completion {
            parts.push(format!(
                "completion={}",
                if c == Completion::Sync {
                    "sync"
                } else {
                    "async"
                }
            ));
        }
        for (c, m) in &self.min_refund {
            parts.push(format!("min_refund.{c}={m}"));
        }
        format!("{method}:{}", parts.join(","))
    }
}

impl MethodCapabilities {
    /// These capabilities with `o` applied on top.
    pub fn with(mut self, o: &MethodOverride) -> Self {
        self.refund_supported = o.refund_supported.unwrap_or(self.refund_supported);
        self.partial_allowed = o.partial_allowed.unwrap_or(self.partial_allowed);
        self.multiple_allowed = o.multiple_allowed.unwrap_or(self.multiple_allowed);
        self.window_days = o.window_days.unwrap_or(self.window_days);
        self.completion = o.completion.unwrap_or(self.completion);
        for &(currency, minimum) in &o.min_refund {
            self.min_refund.retain(|(c, _)| *c != currency);
            self.min_refund.push((currency, minimum));
        }
        self
    }

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
    fn overrides_replace_only_what_they_name() {
        let krw = Currency::parse("KRW").unwrap();
        let caps = default_capabilities("KAKAOPAY", None).with(&MethodOverride {
            refund_supported: Some(false),
            min_refund: vec![(krw, 100)],
            ..MethodOverride::default()
        });
        assert!(!caps.refund_supported);
        assert_eq!(caps.min_refund_minor(krw), 100);
        assert_eq!(caps.window_days, 365);
    }

    #[test]
    fn overrides_parse_and_render_round_trip() {
        let (method, o) = MethodOverride::parse(
            "QRIS: window_days=14, partial_allowed=false, completion=sync, min_refund.IDR=1000",
        )
        .unwrap();
        assert_eq!(method, "QRIS");
        assert_eq!(o.window_days, Some(14));
        assert_eq!(o.partial_allowed, Some(false));
        assert_eq!(
            MethodOverride::parse(&o.render("QRIS")).unwrap(),
            ("QRIS".to_owned(), o)
        );
        for bad in [
            "QRIS",
            ":window_days=1",
            "QRIS:window_days=x",
            "QRIS:colour=red",
            "QRIS:min_refund.ZZZ=1",
            "QRIS:completion=later",
        ] {
            assert!(MethodOverride::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bank_transfer_is_one_full_refund_within_180_days() {
        let caps = default_capabilities("BANK_TRANSFER", None);
        assert!(!caps.partial_allowed && !caps.multiple_allowed);
        assert_eq!(caps.window_days, 180);
    }
}
