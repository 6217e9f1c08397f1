//! How the portal writes money and time, and reads amounts typed by people.

use backflow_domain::money::MoneyError;
use backflow_domain::{Currency, Money, Timestamp};
use time::UtcOffset;

/// Major units with the currency's decimals and grouped thousands: `1,234.50 USD`, `1,000 JPY`.
pub fn money(m: Money) -> String {
    let plain = m.major_string();
    let (sign, rest) = match plain.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", plain.as_str()),
    };
    let (whole, frac) = match rest.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (rest, None),
    };
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f} {}", m.currency.code()),
        None => format!("{sign}{grouped} {}", m.currency.code()),
    }
}

/// A merchant's offset from UTC, as pages show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    pub minutes: i64,
}

impl Zone {
    fn offset(self) -> UtcOffset {
        UtcOffset::from_whole_seconds(i32::try_from(self.minutes * 60).unwrap_or(0))
            .unwrap_or(UtcOffset::UTC)
    }

    /// `UTC`, `UTC+08:00`, `UTC-03:30`.
    pub fn name(self) -> String {
        if self.minutes == 0 {
            return "UTC".into();
        }
        let sign = if self.minutes < 0 { '-' } else { '+' };
        let m = self.minutes.abs();
        format!("UTC{sign}{:02}:{:02}", m / 60, m % 60)
    }

    /// `2026-11-23 17:55:29 UTC+08:00`.
    pub fn time(self, t: Timestamp) -> String {
        let d = t.to_offset_datetime().to_offset(self.offset());
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {}",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second(),
            self.name()
        )
    }

    /// The day `t` falls on here, as `YYYY-MM-DD`.
    pub fn date(self, t: Timestamp) -> String {
        let d = t.to_offset_datetime().to_offset(self.offset());
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    }

    /// The start of the day `YYYY-MM-DD` here; `None` when it is not a date.
    pub fn start_of(self, date: &str) -> Option<Timestamp> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let day = time::Date::parse(date.trim(), &format).ok()?;
        let t = day.midnight().assume_offset(self.offset());
        Some(Timestamp::from_offset_datetime(t))
    }
}

/// Reads a refund amount typed in major units; on error, the sentence the field shows.
pub fn parse_amount(currency: Currency, input: &str) -> Result<Money, String> {
    let text = input.trim();
    let decimals = currency.exponent();
    if text.is_empty() {
        return Err("Enter the amount to refund.".into());
    }
    if !text.is_ascii() {
        return Err("Type the amount with the digits 0-9 (not full-width or other digits).".into());
    }
    if text.starts_with('-') {
        return Err("The amount must be more than zero.".into());
    }
    let example = match decimals {
        0 => "1500".to_owned(),
        d => format!("12.{}", "3".repeat(usize::from(d))),
    };
    match Money::parse_major(currency, text) {
        Ok(m) if m.minor == 0 => Err("The amount must be more than zero.".into()),
        Ok(m) => Ok(m),
        Err(MoneyError::TooManyDecimals(_)) if decimals == 0 => {
            Err(format!("{} amounts have no decimals.", currency.code()))
        }
        Err(MoneyError::TooManyDecimals(_)) => Err(format!(
            "{} amounts have at most {decimals} decimals.",
            currency.code()
        )),
        Err(MoneyError::OutOfRange(_)) => Err("The amount is too large.".into()),
        Err(_) => Err(format!(
            "Write the amount as plain digits{}, like {example}.",
            if decimals == 0 {
                ""
            } else {
                " with a decimal point"
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn money_uses_the_exponent_and_groups_thousands() {
        assert_eq!(money(Money::new(c("USD"), 1234)), "12.34 USD");
        assert_eq!(money(Money::new(c("JPY"), 1000)), "1,000 JPY");
        assert_eq!(money(Money::new(c("USD"), 123_456_789)), "1,234,567.89 USD");
        assert_eq!(money(Money::new(c("BHD"), 5)), "0.005 BHD");
        assert_eq!(money(Money::new(c("USD"), -100_000)), "-1,000.00 USD");
    }

    #[test]
    fn bad_amounts_get_a_sentence() {
        let usd = c("USD");
        for bad in [
            "", "  ", "1.234", "-1", "1e3", "１０", "0", "0.00", "1,000", "abc", ".5",
        ] {
            assert!(parse_amount(usd, bad).is_err(), "{bad:?}");
        }
        assert!(parse_amount(usd, "1.234")
            .unwrap_err()
            .contains("at most 2 decimals"));
        assert!(parse_amount(usd, "１０").unwrap_err().contains("0-9"));
        assert!(parse_amount(c("JPY"), "10.5")
            .unwrap_err()
            .contains("no decimals"));
        assert_eq!(parse_amount(usd, " 12.3 ").unwrap().minor, 1230);
        assert_eq!(parse_amount(c("JPY"), "1000").unwrap().minor, 1000);
    }

    #[test]
    fn times_show_the_zone() {
        let t = Timestamp(1_795_000_000_000);
        assert_eq!(Zone { minutes: 0 }.time(t), "2026-11-18 11:06:40 UTC");
        assert_eq!(
            Zone { minutes: 480 }.time(t),
            "2026-11-18 19:06:40 UTC+08:00"
        );
        assert_eq!(Zone { minutes: -210 }.name(), "UTC-03:30");
        let z = Zone { minutes: 480 };
        assert_eq!(z.date(z.start_of("2026-11-18").unwrap()), "2026-11-18");
        assert!(z.start_of("18/11/2026").is_none());
    }
}
