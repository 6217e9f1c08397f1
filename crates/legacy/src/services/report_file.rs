//! What `forex_compare_file` and `forex_liquidation_file` share: the period
//! rules, the line format and the plain-text sentences the real gateway answers.
//!
//! Backflow settles daily: a transaction settles when the Beijing day after
//! it begins (T+1). The compare file lists transactions by when they
//! happened, the liquidation file by when they settled; both give amounts in
//! the settlement currency, which is the trade's foreign currency.

use super::Call;
use crate::beijing::{self, DayError};
use crate::reply::Reply;
use backflow_domain::payment::Door;
use backflow_domain::{Money, Timestamp};
use backflow_store::{ReportTransaction, TransactionKind};
use time::{Date, Duration};

/// The longest period one file covers, counting both ends.
const MAX_DAYS: i64 = 10;

/// The requested days, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Period {
    pub first: Date,
    pub last: Date,
}

/// Reads `start_date` and `end_date` (`YYYYMMDD`); the error is the sentence to answer.
fn period(call: &Call<'_>) -> Result<Period, Reply> {
    let refuse = |s: &str| Reply::Text(s.to_owned());
    let day = |key| {
        let text = call.params.get(key).unwrap_or_default();
        beijing::parse_day(text).map_err(|e| match e {
            DayError::Format => refuse("Date format incorrect YYYYMMDD"),
            DayError::NoSuchDay => refuse("File download failed:Illegal Date period!"),
        })
    };
    let (first, last) = (day("start_date")?, day("end_date")?);
    if last < first {
        return Err(refuse(
            "File download failed:Finish date ahead of begin date",
        ));
    }
    if (last - first).whole_days() + 1 > MAX_DAYS {
        return Err(refuse("File download failed:Over 10 days to Date period"));
    }
    let today = beijing::day_of(call.engine.clock().now());
    if last >= today {
        return Err(refuse(
            "File download failed:Finish date not ahead of today",
        ));
    }
    Ok(Period { first, last })
}

/// When a transaction settles: the start of the next Beijing day.
fn settles_at(t: Timestamp) -> Timestamp {
    let day = beijing::day_of(t);
    beijing::day_start(day.next_day().unwrap_or(day))
}

/// The instants from the start of `first` to the start of the day after `last`.
pub(crate) fn span(first: Date, last: Date) -> (Timestamp, Timestamp) {
    let end = last.next_day().unwrap_or(last);
    (beijing::day_start(first), beijing::day_start(end))
}

/// One day earlier (the liquidation file looks for what settled in the period).
pub(crate) fn day_before(d: Date) -> Date {
    d.checked_sub(Duration::days(1)).unwrap_or(d)
}

/// A file: the caller's legacy-door transactions over the instants `select`
/// picks for the requested period, or the sentence `empty` when there is none.
pub(crate) async fn answer(
    call: &Call<'_>,
    select: impl FnOnce(Period) -> (Timestamp, Timestamp),
    empty: &str,
) -> Reply {
    let (from, to) = match period(call) {
        Ok(p) => select(p),
        Err(sentence) => return sentence,
    };
    let found = call
        .engine
        .transactions_between(&call.caller.merchant.client_id, Door::Legacy, from, to)
        .await;
    match found {
        Ok(lines) => render(&lines, call.engine.clock().now(), empty),
        Err(e) => {
            tracing::error!(error = %e, "legacy file: cannot read transactions");
            Reply::Text(super::SYSTEM_EXCEPTION.into())
        }
    }
}

/// `partner_transaction_id|amount|currency|transaction_time|settlement_time|type|service_charge|status|remarks`,
/// one line per transaction, no header; `empty` when there is none.
fn render(lines: &[ReportTransaction], now: Timestamp, empty: &str) -> Reply {
    if lines.is_empty() {
        return Reply::Text(empty.to_owned());
    }
    let records: Vec<[String; 9]> = lines
        .iter()
        .map(|t| {
            let settles = settles_at(t.at);
            let (settlement_time, status) = if settles <= now {
                (beijing::compact(settles), "L")
            } else {
                (String::new(), "P")
            };
            let (kind, remarks) = match t.kind {
                TransactionKind::Payment => ("P", ""),
                // A refund names the payment it refunds.
                TransactionKind::Refund => ("R", t.payment_reference.as_str()),
            };
            let charge = Money::new(t.settled.currency, t.commission_minor);
            [
                t.reference.clone(),
                t.settled.major_string(),
                t.settled.currency.code().to_owned(),
                beijing::compact(t.at),
                settlement_time,
                kind.to_owned(),
                charge.major_string(),
                status.to_owned(),
                remarks.to_owned(),
            ]
        })
        .collect();
    super::file(records.iter().map(|r| r.iter().map(String::as_str)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactions_settle_at_the_next_beijing_midnight() {
        // 2025-04-30 15:26:58 in Beijing settles at 2025-05-01 00:00:00 there.
        let t = Timestamp(1_745_998_018_000);
        assert_eq!(beijing::compact(settles_at(t)), "20250501000000");
        let d = beijing::day_of(t);
        let (from, to) = span(d, d);
        assert!(from <= t && t < to);
        assert_eq!(to.millis() - from.millis(), Timestamp::MS_PER_DAY);
        assert_eq!(beijing::dashed_date(day_before(d)), "2025-04-29");
    }
}
