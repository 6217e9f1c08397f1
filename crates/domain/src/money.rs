//! Money in integer minor units, with ISO 4217 exponents. Never floats.

use thiserror::Error;

/// The largest amount any one payment or refund may carry, in minor units.
/// It keeps every sum of a payment's refunds far inside `i64`.
pub const MAX_MINOR: i64 = 1_000_000_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
    #[error("amount {0:?} is not a whole number of minor units")]
    Malformed(String),
    #[error("amount {0:?} is out of range")]
    OutOfRange(String),
    #[error("amount {0:?} has more decimals than its currency allows")]
    TooManyDecimals(String),
}

/// ISO 4217 alphabetic code and minor-unit exponent.
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AUD", 2),
    ("BDT", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LKR", 2),
    ("MOP", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PEN", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("QAR", 2),
    ("RUB", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("USD", 2),
    ("VND", 0),
    ("ZAR", 2),
];

/// A currency we know the exponent of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

impl Currency {
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|&(code, exponent)| Currency { code, exponent })
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    pub fn exponent(self) -> u8 {
        self.exponent
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code)
    }
}

/// An amount of one currency, in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    pub currency: Currency,
    pub minor: i64,
}

impl Money {
    pub fn new(currency: Currency, minor: i64) -> Self {
        Self { currency, minor }
    }

    /// Parses the AMS wire form: a string of decimal digits counting minor units.
    pub fn parse_minor(currency: Currency, value: &str) -> Result<Self, MoneyError> {
        if value.is_empty() || value.len() > 19 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MoneyError::Malformed(value.to_owned()));
        }
        let minor: i64 = value
            .parse()
            .map_err(|_| MoneyError::OutOfRange(value.to_owned()))?;
        if minor > MAX_MINOR {
            return Err(MoneyError::OutOfRange(value.to_owned()));
        }
        Ok(Self { currency, minor })
    }

    /// Parses a decimal in major units (`10.5`, `0.01`; integral for JPY), as the
    /// legacy wire carries it. Fewer decimals than the exponent are allowed, more are not.
    pub fn parse_major(currency: Currency, value: &str) -> Result<Self, MoneyError> {
        let malformed = || MoneyError::Malformed(value.to_owned());
        let (whole, frac) = match value.split_once('.') {
            Some((w, f)) => (w, f),
            None => (value, ""),
        };
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 16 || !digits(whole) || !digits(frac) {
            return Err(malformed());
        }
        if value.contains('.') && frac.is_empty() {
            return Err(malformed());
        }
        let exp = usize::from(currency.exponent);
        if frac.len() > exp {
            return Err(MoneyError::TooManyDecimals(value.to_owned()));
        }
        let padded = format!("{whole}{frac:0<exp$}");
        let minor: i64 = padded.parse().map_err(|_| malformed())?;
        if minor > MAX_MINOR {
            return Err(MoneyError::OutOfRange(value.to_owned()));
        }
        Ok(Self { currency, minor })
    }

    /// The AMS wire form of the value: minor units as a string.
    pub fn minor_string(&self) -> String {
        self.minor.to_string()
    }

    /// Major units with exactly the currency's decimals (`10.00`, `500` for JPY).
    pub fn major_string(&self) -> String {
        let exp = u32::from(self.currency.exponent);
        if exp == 0 {
            return self.minor.to_string();
        }
        let scale = 10i64.pow(exp);
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        let (whole, frac) = (abs / scale as u64, abs % scale as u64);
        format!("{sign}{whole}.{frac:0width$}", width = exp as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn exponents_follow_iso_4217() {
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KRW").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("BHD").unwrap().exponent(), 3);
        assert_eq!(usd().exponent(), 2);
        assert!(Currency::parse("usd").is_err());
        assert!(Currency::parse("ZZZ").is_err());
    }

    #[test]
    fn minor_units_parse_strictly() {
        assert_eq!(Money::parse_minor(usd(), "1000").unwrap().minor, 1000);
        for bad in ["", "-1", "1.5", " 1", "1e3", "+1", "99999999999999999999"] {
            assert!(Money::parse_minor(usd(), bad).is_err(), "{bad}");
        }
        assert!(Money::parse_minor(usd(), "1000000000000001").is_err());
    }

    #[test]
    fn major_units_respect_the_exponent() {
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(Money::parse_major(usd(), "0.5").unwrap().minor, 50);
        assert_eq!(Money::parse_major(usd(), "10.00").unwrap().minor, 1000);
        assert_eq!(Money::parse_major(jpy, "500").unwrap().minor, 500);
        assert!(matches!(
            Money::parse_major(jpy, "500.0"),
            Err(MoneyError::TooManyDecimals(_))
        ));
        assert!(Money::parse_major(usd(), "0.001").is_err());
        assert!(Money::parse_major(usd(), "1.").is_err());
        assert!(Money::parse_major(usd(), ".5").is_err());
        assert_eq!(Money::new(usd(), 5).major_string(), "0.05");
        assert_eq!(Money::new(jpy, 5).major_string(), "5");
    }

    proptest! {
        #[test]
        fn major_round_trips(minor in 0i64..MAX_MINOR, code in prop::sample::select(vec!["USD", "JPY", "BHD"])) {
            let c = Currency::parse(code).unwrap();
            let m = Money::new(c, minor);
            prop_assert_eq!(Money::parse_major(c, &m.major_string()).unwrap(), m);
            prop_assert_eq!(Money::parse_minor(c, &m.minor_string()).unwrap(), m);
        }
    }
}
