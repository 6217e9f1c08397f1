//! Settlement terms: when a merchant's funds are paid out, and how much is worth paying.
//!
//! Days are UTC calendar days. A daily cycle `T+N` pays the funds of day T on
//! day T+N; a weekly cycle `W+N` pays the funds of a Monday-to-Sunday week N
//! days after its Sunday. See docs/reports.md.

use crate::clock::Timestamp;

/// A UTC calendar day, counted from 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(i64);

impl Day {
    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Self> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let date = time::Date::parse(s, &format).ok()?;
        let t = date.midnight().assume_utc();
        Some(Self(t.unix_timestamp().div_euclid(86_400)))
    }

    /// The day `t` falls on.
    pub fn of(t: Timestamp) -> Self {
        Self(t.millis().div_euclid(Timestamp::MS_PER_DAY))
    }

    /// The day's first instant.
    pub fn start(self) -> Timestamp {
        Timestamp(self.0.saturating_mul(Timestamp::MS_PER_DAY))
    }

    pub fn plus(self, days: i64) -> Self {
        Self(self.0 + days)
    }

    /// Monday is 0, Sunday 6 (1970-01-01 was a Thursday).
    pub fn weekday(self) -> i64 {
        (self.0 + 3).rem_euclid(7)
    }

    /// `YYYYMMDD`, as report file names carry it.
    pub fn compact(self) -> String {
        self.to_string().replace('-', "")
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.start().date_string())
    }
}

/// How often a merchant is paid, and how many days after the period ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettlementCycle {
    /// `T+N`, N ≥ 1: each day's funds, N days later.
    Daily { lag_days: u8 },
    /// `W+N`, 2 ≤ N ≤ 5: each Monday-to-Sunday week's funds, N days after its Sunday.
    Weekly { lag_days: u8 },
}

impl Default for SettlementCycle {
    fn default() -> Self {
        Self::Daily { lag_days: 1 }
    }
}

impl SettlementCycle {
    /// Parses `T+N` or `W+N`.
    pub fn parse(s: &str) -> Option<Self> {
        let (kind, n) = s.trim().split_once('+')?;
        let n: u8 = n.parse().ok()?;
        match kind {
            "T" if (1..=30).contains(&n) => Some(Self::Daily { lag_days: n }),
            "W" if (2..=5).contains(&n) => Some(Self::Weekly { lag_days: n }),
            _ => None,
        }
    }

    /// The days `[from, to)` whose funds a batch made on `day` pays, if one is due that day.
    pub fn period_settled_on(self, day: Day) -> Option<(Day, Day)> {
        match self {
            Self::Daily { lag_days } => {
                let from = day.plus(-i64::from(lag_days));
                Some((from, from.plus(1)))
            }
            Self::Weekly { lag_days } => {
                let sunday = day.plus(-i64::from(lag_days));
                (sunday.weekday() == 6).then(|| (sunday.plus(-6), sunday.plus(1)))
            }
        }
    }
}

impl std::fmt::Display for SettlementCycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Daily { lag_days } => write!(f, "T+{lag_days}"),
            Self::Weekly { lag_days } => write!(f, "W+{lag_days}"),
        }
    }
}

/// A merchant's settlement terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SettlementTerms {
    pub cycle: SettlementCycle,
    /// Funds below this (settlement minor units) are carried over to the next batch.
    pub minimum_minor: i64,
}

impl SettlementTerms {
    /// Whether `funds` are paid out now or carried over.
    pub fn pays(&self, funds: i64) -> bool {
        funds > 0 && funds >= self.minimum_minor
    }
}

/// Where a settlement batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchStatus {
    /// The available balance could not cover it; it is tried again on every run.
    WaitingFunds,
    Settled,
}

impl BatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WaitingFunds => "WAITING_FUNDS",
            Self::Settled => "SETTLED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "WAITING_FUNDS" => Some(Self::WaitingFunds),
            "SETTLED" => Some(Self::Settled),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_and_print() {
        let d = Day::parse("2026-12-04").unwrap();
        assert_eq!(d.to_string(), "2026-12-04");
        assert_eq!(d.compact(), "20261204");
        assert_eq!(d.weekday(), 4, "a Friday");
        assert_eq!(Day::of(d.start().plus_millis(86_399_999)), d);
        assert!(Day::parse("2026-13-01").is_none());
        assert!(Day::parse("04.12.2026").is_none());
    }

    #[test]
    fn cycles_parse_within_their_bounds() {
        assert_eq!(
            SettlementCycle::parse("T+2"),
            Some(SettlementCycle::Daily { lag_days: 2 })
        );
        assert_eq!(
            SettlementCycle::parse("W+3"),
            Some(SettlementCycle::Weekly { lag_days: 3 })
        );
        for bad in ["T+0", "W+1", "W+6", "M+2", "T2", "T+x"] {
            assert!(SettlementCycle::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(SettlementCycle::default().to_string(), "T+1");
    }

    #[test]
    fn a_daily_cycle_pays_the_day_n_days_back() {
        let friday = Day::parse("2026-12-04").unwrap();
        let cycle = SettlementCycle::Daily { lag_days: 2 };
        let wednesday = Day::parse("2026-12-02").unwrap();
        assert_eq!(
            cycle.period_settled_on(friday),
            Some((wednesday, wednesday.plus(1)))
        );
    }

    #[test]
    fn a_weekly_cycle_pays_once_a_week() {
        let cycle = SettlementCycle::Weekly { lag_days: 2 };
        let tuesday = Day::parse("2026-12-08").unwrap();
        let monday_before = Day::parse("2026-11-30").unwrap();
        assert_eq!(
            cycle.period_settled_on(tuesday),
            Some((monday_before, monday_before.plus(7)))
        );
        let due = (0..7)
            .filter(|i| cycle.period_settled_on(tuesday.plus(*i)).is_some())
            .count();
        assert_eq!(due, 1);
    }

    #[test]
    fn the_minimum_carries_small_funds_over() {
        let terms = SettlementTerms {
            minimum_minor: 1000,
            ..SettlementTerms::default()
        };
        assert!(!terms.pays(999));
        assert!(terms.pays(1000));
        assert!(!SettlementTerms::default().pays(0));
        assert!(!SettlementTerms::default().pays(-5));
    }
}
