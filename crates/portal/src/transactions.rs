//! The transaction list: payments with their refunds, newest first, filtered,
//! paged by key, and exported as CSV.

use crate::auth::{session, Failure, Fields, Page};
use crate::format::{money, Zone};
use crate::html;
use crate::pages::{FilterValues, RefundLine, StatusOption, TransactionLine, TransactionsPage};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use backflow_domain::payment::Payment;
use backflow_domain::refund::{Refund, RefundState};
use backflow_domain::Timestamp;
use backflow_engine::portal::made_in_portal;
use backflow_engine::Engine;
use backflow_store::{TransactionCursor, TransactionFilter, TransactionRow};

/// Payments a page shows.
const PAGE_SIZE: usize = 50;
/// The most payments one CSV export holds.
const CSV_MAX: usize = 100_000;

/// The status filter's choices: a payment's status, or one of its refunds'.
const STATUSES: [(&str, &str); 9] = [
    ("payment:SUCCESS", "Paid"),
    ("payment:PROCESSING", "Payment processing"),
    ("payment:AUTHORIZED", "Authorised"),
    ("payment:FAIL", "Payment failed"),
    ("payment:CANCELLED", "Cancelled"),
    ("refund:PROCESSING", "Refund processing"),
    ("refund:WAITING_FUNDS", "Refund waiting for funds"),
    ("refund:SUCCESS", "Refund successful"),
    ("refund:FAIL", "Refund failed"),
];

pub(crate) fn payment_line(p: &Payment, refunds: &[Refund], zone: Zone) -> TransactionLine {
    TransactionLine {
        payment_id: p.id.to_string(),
        request_id: p.request_id.to_string(),
        door: match p.door {
            backflow_domain::payment::Door::Ams => "API",
            backflow_domain::payment::Door::Legacy => "legacy gateway",
        },
        method: p.method_type.clone(),
        amount: money(p.amount),
        status: p.status.as_str(),
        created: zone.time(p.created_at),
        refunds: refunds.iter().map(|r| refund_line(r, zone)).collect(),
    }
}

pub(crate) fn refund_line(r: &Refund, zone: Zone) -> RefundLine {
    RefundLine {
        refund_id: r.id.to_string(),
        request_id: r.request_id.to_string(),
        amount: money(r.amount),
        status: match &r.state {
            RefundState::Reversed { .. } => "REVERSED",
            state => state.status().as_str(),
        },
        created: zone.time(r.created_at),
        origin: if made_in_portal(&r.request_id) {
            "portal"
        } else {
            "API"
        },
    }
}

/// The filters of a query string, or the sentence saying which is wrong.
fn parse_filters(q: &Fields, zone: Zone) -> (FilterValues, Result<TransactionFilter, String>) {
    let get = |k: &str| q.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let values = FilterValues {
        from: get("from"),
        to: get("to"),
        status: get("status"),
        method: get("method"),
        currency: get("currency"),
        q: get("q"),
    };
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let parsed = (|| -> Result<TransactionFilter, String> {
        let day = |s: &str, name: &str| match s {
            "" => Ok(None),
            s => zone
                .start_of(s)
                .map(Some)
                .ok_or(format!("The {name} day must be a date like 2026-11-23.")),
        };
        let from = day(&values.from, "from")?;
        let to = day(&values.to, "to")?.map(|t: Timestamp| t.plus_days(1));
        let (payment_status, refund_status) = match values.status.split_once(':') {
            _ if values.status.is_empty() => (None, None),
            Some(("payment", s)) if STATUSES.iter().any(|(v, _)| *v == values.status) => {
                (Some(s.to_owned()), None)
            }
            Some(("refund", s)) if STATUSES.iter().any(|(v, _)| *v == values.status) => {
                (None, Some(s.to_owned()))
            }
            _ => return Err("Choose a status from the list.".to_owned()),
        };
        Ok(TransactionFilter {
            from,
            to,
            payment_status,
            refund_status,
            method: some(&values.method.to_uppercase()),
            currency: some(&values.currency.to_uppercase()),
            search: some(&values.q),
        })
    })();
    (values, parsed)
}

/// `after=MILLIS:PAYMENT_ID`, the key of the last payment of the previous page.
fn parse_cursor(q: &Fields) -> Option<TransactionCursor> {
    let (at, id) = q.get("after")?.split_once(':')?;
    Some(TransactionCursor {
        created_at: Timestamp(at.parse().ok()?),
        payment_id: id.to_owned(),
    })
}

fn query_string(v: &FilterValues) -> String {
    let pairs = [
        ("q", &v.q),
        ("from", &v.from),
        ("to", &v.to),
        ("status", &v.status),
        ("method", &v.method),
        ("currency", &v.currency),
    ];
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) async fn list(
    State(engine): State<Engine>,
    headers: HeaderMap,
    Query(q): Query<Fields>,
) -> Page {
    let signed = session(&engine, &headers).await?;
    let zone = signed.zone;
    let (values, parsed) = parse_filters(&q, zone);
    let (rows, error) = match parsed {
        Ok(filter) => {
            let mut rows = engine
                .portal_transactions(
                    &signed.session.user.merchant,
                    &filter,
                    parse_cursor(&q).as_ref(),
                    PAGE_SIZE + 1,
                )
                .await?;
            let more = rows.len() > PAGE_SIZE;
            rows.truncate(PAGE_SIZE);
            (Some((rows, more)), None)
        }
        Err(e) => (None, Some(e)),
    };
    let query = query_string(&values);
    let (rows, next) = match rows {
        Some((rows, more)) => {
            let next = rows.last().filter(|_| more).map(|last| {
                let after = format!(
                    "after={}:{}",
                    last.payment.created_at.millis(),
                    encode(last.payment.id.as_str())
                );
                match query.is_empty() {
                    true => after,
                    false => format!("{query}&{after}"),
                }
            });
            let lines = rows
                .iter()
                .map(|t: &TransactionRow| payment_line(&t.payment, &t.refunds, zone))
                .collect();
            (lines, next)
        }
        None => (Vec::new(), None),
    };
    let statuses = STATUSES
        .iter()
        .map(|&(value, label)| StatusOption {
            value,
            label,
            selected: value == values.status,
        })
        .collect();
    html(&TransactionsPage {
        chrome: signed.chrome(),
        filters: values,
        statuses,
        error,
        rows,
        next,
        query,
    })
}

pub(crate) async fn csv(
    State(engine): State<Engine>,
    headers: HeaderMap,
    Query(q): Query<Fields>,
) -> Page {
    let signed = session(&engine, &headers).await?;
    let zone = signed.zone;
    let filter = parse_filters(&q, zone).1.map_err(Failure::BadRequest)?;
    let merchant = &signed.session.user.merchant;
    let mut out = csv::Writer::from_writer(Vec::new());
    write(
        &mut out,
        &[
            "kind",
            "created",
            "payment_id",
            "payment_request_id",
            "refund_id",
            "refund_request_id",
            "method",
            "currency",
            "amount",
            "status",
        ],
    )?;
    let mut cursor = None;
    let mut written = 0;
    while written < CSV_MAX {
        let rows = engine
            .portal_transactions(merchant, &filter, cursor.as_ref(), 500)
            .await?;
        let Some(last) = rows.last() else { break };
        cursor = Some(TransactionCursor {
            created_at: last.payment.created_at,
            payment_id: last.payment.id.to_string(),
        });
        for t in &rows {
            let p = &t.payment;
            write(
                &mut out,
                &[
                    "payment",
                    &zone.time(p.created_at),
                    p.id.as_str(),
                    p.request_id.as_str(),
                    "",
                    "",
                    &p.method_type,
                    p.amount.currency.code(),
                    &p.amount.major_string(),
                    p.status.as_str(),
                ],
            )?;
            for r in &t.refunds {
                let line = refund_line(r, zone);
                write(
                    &mut out,
                    &[
                        "refund",
                        &line.created,
                        p.id.as_str(),
                        p.request_id.as_str(),
                        r.id.as_str(),
                        r.request_id.as_str(),
                        &p.method_type,
                        r.amount.currency.code(),
                        &r.amount.major_string(),
                        line.status,
                    ],
                )?;
            }
        }
        written += rows.len();
    }
    let body = out.into_inner().map_err(|_| Failure::Unavailable)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"transactions.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

fn write(out: &mut csv::Writer<Vec<u8>>, record: &[&str]) -> Result<(), Failure> {
    out.write_record(record).map_err(|_| Failure::Unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_days_in_the_merchant_zone_and_refuse_junk() {
        let zone = Zone { minutes: 60 };
        let q: Fields = [
            ("from", "2026-11-18"),
            ("to", "2026-11-18"),
            ("status", "refund:SUCCESS"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let filter = parse_filters(&q, zone).1.unwrap();
        let from = filter.from.unwrap();
        assert_eq!(
            filter.to.unwrap().millis() - from.millis(),
            Timestamp::MS_PER_DAY
        );
        assert_eq!(zone.date(from), "2026-11-18");
        assert_eq!(filter.refund_status.as_deref(), Some("SUCCESS"));
        let bad: Fields = [("status".to_owned(), "payment:NOPE".to_owned())].into();
        assert!(parse_filters(&bad, zone).1.is_err());
        let bad: Fields = [("from".to_owned(), "yesterday".to_owned())].into();
        assert!(parse_filters(&bad, zone).1.is_err());
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode("a b&c"), "a%20b%26c");
        let v = FilterValues {
            q: "x&y".into(),
            ..FilterValues::default()
        };
        assert_eq!(query_string(&v), "q=x%26y");
    }
}
