//! Exchange rates as exact decimals, and conversion with half-even rounding.

use crate::money::{Currency, Money, MAX_MINOR};

/// A rate as an exact decimal: `mantissa × 10^-scale` units of the quote currency per unit of the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    mantissa: u64,
    scale: u32,
}

/// The rate a conversion used, as `settlementQuote` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub base: Currency,
    pub quote: Currency,
    pub rate: Rate,
    /// The rates table day the rate belongs to (`YYYY-MM-DD`).
    pub rate_date: String,
}

impl Quote {
    pub fn pair(&self) -> String {
        format!("{}/{}", self.base, self.quote)
    }

    /// A stable id: the day and the pair.
    pub fn id(&self) -> String {
        format!(
            "{}{}{}",
            self.rate_date.replace('-', ""),
            self.base,
            self.quote
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("rate {0:?} is not a positive decimal with at most 12 decimals")]
    Malformed(String),
}

impl Rate {
    pub const MAX_SCALE: u32 = 12;

    /// Parses `1.3456` (no sign, no exponent, at most 12 decimals, positive).
    pub fn parse(s: &str) -> Result<Self, RateError> {
        let bad = || RateError::Malformed(s.to_owned());
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !digits(whole)
            || !digits(frac)
            || (s.contains('.') && frac.is_empty())
        {
            return Err(bad());
        }
        let scale = u32::try_from(frac.len()).map_err(|_| bad())?;
        if scale > Self::MAX_SCALE || whole.len() > 7 {
            return Err(bad());
        }
        let mantissa: u64 = format!("{whole}{frac}").parse().map_err(|_| bad())?;
        if mantissa == 0 {
            return Err(bad());
        }
        Ok(Self { mantissa, scale })
    }

    /// The canonical decimal text, without trailing zeros.
    pub fn to_decimal_string(self) -> String {
        let s = format!(
            "{:0>width$}",
            self.mantissa,
            width = self.scale as usize + 1
        );
        let (whole, frac) = s.split_at(s.len() - self.scale as usize);
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            whole.to_owned()
        } else {
            format!("{whole}.{frac}")
        }
    }

    /// Converts `money` into `target` at this rate, rounding half-even at the
    /// target's exponent. `None` when the result would exceed the amount bound.
    pub fn convert(self, money: Money, target: Currency) -> Option<Money> {
        // value_target_minor = minor × rate × 10^(exp_t − exp_s)
        let exp_diff = i32::from(target.exponent()) - i32::from(money.currency.exponent());
        let mut numerator = i128::from(money.minor).checked_mul(i128::from(self.mantissa))?;
        let mut denominator = 10i128.checked_pow(self.scale)?;
        if exp_diff >= 0 {
            numerator = numerator.checked_mul(10i128.checked_pow(exp_diff.unsigned_abs())?)?;
        } else {
            denominator = denominator.checked_mul(10i128.checked_pow(exp_diff.unsigned_abs())?)?;
        }
        let minor = div_half_even(numerator, denominator);
        let minor = i64::try_from(minor).ok().filter(|m| m.abs() <= MAX_MINOR)?;
        Some(Money::new(target, minor))
    }
}

/// `n / d` rounded half to even; `d` is positive.
pub fn div_half_even(n: i128, d: i128) -> i128 {
    let q = n.div_euclid(d);
    let r = n.rem_euclid(d);
    match (2 * r).cmp(&d) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn parses_and_prints_exactly() {
        assert_eq!(Rate::parse("1.3456").unwrap().to_decimal_string(), "1.3456");
        assert_eq!(Rate::parse("1.500").unwrap().to_decimal_string(), "1.5");
        assert_eq!(Rate::parse("150").unwrap().to_decimal_string(), "150");
        assert_eq!(Rate::parse("0.0067").unwrap().to_decimal_string(), "0.0067");
        for bad in [
            "",
            "0",
            "0.000",
            "-1",
            "1.",
            ".5",
            "1e3",
            "1.1234567890123",
            "abc",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn converts_across_exponents_half_even() {
        let rate = Rate::parse("1.35").unwrap();
        // USD 10.00 → SGD 13.50
        assert_eq!(
            rate.convert(Money::new(c("USD"), 1000), c("SGD"))
                .unwrap()
                .minor,
            1350
        );
        // USD 0.01 × 1.35 = 0.0135 → 0.01 (below half)
        assert_eq!(
            rate.convert(Money::new(c("USD"), 1), c("SGD"))
                .unwrap()
                .minor,
            1
        );
        // Exactly half rounds to even: 0.05 × 0.5 = 0.025 → 0.02; 0.15 × 0.5 = 0.075 → 0.08
        let half = Rate::parse("0.5").unwrap();
        assert_eq!(
            half.convert(Money::new(c("USD"), 5), c("EUR"))
                .unwrap()
                .minor,
            2
        );
        assert_eq!(
            half.convert(Money::new(c("USD"), 15), c("EUR"))
                .unwrap()
                .minor,
            8
        );
        // USD 1.00 → JPY at 150.5 = 150.5 → 150 (even); USD 3.00 → 451.5 → 452
        let jpy = Rate::parse("150.5").unwrap();
        assert_eq!(
            jpy.convert(Money::new(c("USD"), 100), c("JPY"))
                .unwrap()
                .minor,
            150
        );
        assert_eq!(
            jpy.convert(Money::new(c("USD"), 300), c("JPY"))
                .unwrap()
                .minor,
            452
        );
        // JPY 1000 → USD at 0.0067 = 6.70
        assert_eq!(
            Rate::parse("0.0067")
                .unwrap()
                .convert(Money::new(c("JPY"), 1000), c("USD"))
                .unwrap()
                .minor,
            670
        );
    }

    #[test]
    fn half_even_division() {
        assert_eq!(div_half_even(5, 2), 2);
        assert_eq!(div_half_even(7, 2), 4);
        assert_eq!(div_half_even(-5, 2), -2);
        assert_eq!(div_half_even(10, 3), 3);
    }

    proptest! {
        /// Converting never drifts more than half a minor unit from the exact product.
        #[test]
        fn conversion_is_within_half_a_unit(minor in 0i64..1_000_000_000_000, mantissa in 1u64..10_000_000, scale in 0u32..8) {
            let rate = Rate { mantissa, scale };
            if let Some(out) = rate.convert(Money::new(c("USD"), minor), c("SGD")) {
                let exact_times_2 = 2 * i128::from(minor) * i128::from(mantissa);
                let unit = 10i128.pow(scale);
                let diff = (2 * i128::from(out.minor) * unit - exact_times_2).abs();
                prop_assert!(diff <= unit);
            }
        }
    }
}
