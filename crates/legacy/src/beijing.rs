//! Time on the legacy wire: Beijing time (UTC+8), as the gateway has always spoken it.

use backflow_domain::Timestamp;
/// `yyyy-MM-dd HH:mm:ss`, as answers and notifications carry times.
pub(crate) use backflow_engine::notices::legacy::beijing_datetime as datetime;
use time::macros::{format_description, offset};
use time::{Date, PrimitiveDateTime, Time, UtcOffset};

const BEIJING: UtcOffset = offset!(+8);

fn local(t: Timestamp) -> PrimitiveDateTime {
    let at = t.to_offset_datetime().to_offset(BEIJING);
    PrimitiveDateTime::new(at.date(), at.time())
}

/// `yyyyMMddHHmmss`, as the files carry transaction times.
pub(crate) fn compact(t: Timestamp) -> String {
    let f = format_description!("[year][month][day][hour][minute][second]");
    local(t).format(&f).unwrap_or_default()
}

/// The Beijing calendar day `t` falls on.
pub(crate) fn day_of(t: Timestamp) -> Date {
    local(t).date()
}

/// The instant a Beijing calendar day starts.
pub(crate) fn day_start(d: Date) -> Timestamp {
    Timestamp::from_offset_datetime(
        PrimitiveDateTime::new(d, Time::MIDNIGHT).assume_offset(BEIJING),
    )
}

/// `YYYY-MM-DD`, as the rates table names its days.
pub(crate) fn dashed_date(d: Date) -> String {
    let f = format_description!("[year]-[month]-[day]");
    d.format(&f).unwrap_or_default()
}

/// Parses `gmt_return`: `yyyyMMddHHmmss`, `yyyy-MM-dd HH:mm:ss`, or
/// `yyyyMMdd HH:mm:ss` (the form in Alipay's own sample request).
pub(crate) fn parse_gmt(s: &str) -> Option<Timestamp> {
    let compact = format_description!("[year][month][day][hour][minute][second]");
    let dashed = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let mixed = format_description!("[year][month][day] [hour]:[minute]:[second]");
    [compact, dashed, mixed]
        .iter()
        .find_map(|f| PrimitiveDateTime::parse(s, f).ok())
        .map(|t| Timestamp::from_offset_datetime(t.assume_offset(BEIJING)))
}

/// Why a `YYYYMMDD` date was refused; the file services answer each differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DayError {
    /// Not eight digits.
    Format,
    /// Eight digits that name no calendar day (`20250230`).
    NoSuchDay,
}

/// Parses `YYYYMMDD`.
pub(crate) fn parse_day(s: &str) -> Result<Date, DayError> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DayError::Format);
    }
    let f = format_description!("[year][month][day]");
    Date::parse(s, &f).map_err(|_| DayError::NoSuchDay)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2025-04-30T07:26:58Z is 15:26:58 in Beijing.
    const T: Timestamp = Timestamp(1_745_998_018_000);

    #[test]
    fn formats_are_beijing_time() {
        assert_eq!(compact(T), "20250430152658");
        assert_eq!(datetime(T), "2025-04-30 15:26:58");
        assert_eq!(dashed_date(day_of(T)), "2025-04-30");
        // 23:00 UTC is the next day in Beijing.
        assert_eq!(
            dashed_date(day_of(T.plus_millis(9 * 3_600_000))),
            "2025-05-01"
        );
        assert_eq!(day_start(day_of(T)), Timestamp(1_745_942_400_000));
    }

    #[test]
    fn gmt_return_takes_three_forms() {
        for s in ["20250430152658", "2025-04-30 15:26:58", "20250430 15:26:58"] {
            assert_eq!(parse_gmt(s), Some(T), "{s}");
        }
        assert_eq!(parse_gmt("2025/04/30"), None);
        assert_eq!(parse_gmt("20250431152658"), None);
    }

    #[test]
    fn days_parse_strictly() {
        assert_eq!(dashed_date(parse_day("20250430").unwrap()), "2025-04-30");
        assert_eq!(parse_day("2025-04-30"), Err(DayError::Format));
        assert_eq!(parse_day("2025043"), Err(DayError::Format));
        assert_eq!(parse_day("20250230"), Err(DayError::NoSuchDay));
    }
}
