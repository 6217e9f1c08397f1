//! Time as the domain sees it: an instant in epoch milliseconds, read from one clock.

use time::{OffsetDateTime, UtcOffset};

/// An instant, in milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const MS_PER_DAY: i64 = 86_400_000;

    pub fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    pub fn plus_days(self, days: i64) -> Self {
        self.plus_millis(days.saturating_mul(Self::MS_PER_DAY))
    }

    pub fn to_offset_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    pub fn from_offset_datetime(t: OffsetDateTime) -> Self {
        Self((t.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    /// ISO 8601 with an explicit offset and no fraction, as Antom emits
    /// (`2025-04-30T00:26:58-07:00`); we always answer in UTC (`+00:00`).
    pub fn to_iso8601(self) -> String {
        let t = self.to_offset_datetime().to_offset(UtcOffset::UTC);
        let (h, m, s) = (t.hour(), t.minute(), t.second());
        format!(
            "{:04}-{:02}-{:02}T{h:02}:{m:02}:{s:02}+00:00",
            t.year(),
            u8::from(t.month()),
            t.day()
        )
    }

    /// The UTC calendar day as `YYYY-MM-DD`: the day an exchange rate belongs to.
    pub fn date_string(self) -> String {
        let t = self.to_offset_datetime();
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
    }

    /// The UTC date and time as `YYYYMMDDHHMMSS`, used in generated identifiers.
    pub fn compact_date_time(self) -> String {
        let t = self.to_offset_datetime();
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

/// The one source of time. Production reads the system clock; tests drive a
/// manual clock so that day-long schedules run in milliseconds.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_is_utc_with_offset() {
        // 2025-04-30T07:26:58Z
        let t = Timestamp(1_745_998_018_000);
        assert_eq!(t.to_iso8601(), "2025-04-30T07:26:58+00:00");
        assert_eq!(t.compact_date_time(), "20250430072658");
    }

    #[test]
    fn days_add_up() {
        assert_eq!(
            Timestamp(0).plus_days(2).millis(),
            2 * Timestamp::MS_PER_DAY
        );
    }
}
