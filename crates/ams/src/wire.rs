//! The JSON shapes of the AMS wire, and their parsing into domain types.

use crate::result::AmsResult;
use backflow_domain::{Currency, Money, Timestamp};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `{"currency":"USD","value":"1000"}`; `value` counts minor units.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WireAmount {
    pub currency: String,
    /// A string on the wire; a JSON number is accepted too.
    #[serde(deserialize_with = "string_or_number")]
    pub value: String,
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string of minor units, found {other}"
        ))),
    }
}

/// A boolean the documents send as `"true"` and the SDKs as `true`.
pub fn flexible_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected a boolean, found {other}"
        ))),
    }
}

/// Why an amount could not be taken.
pub enum AmountError {
    /// Malformed: `PARAM_ILLEGAL`.
    Illegal(AmsResult),
    /// A well-formed code we do not serve: `CURRENCY_NOT_SUPPORT`.
    Currency,
}

impl From<Money> for WireAmount {
    fn from(m: Money) -> Self {
        Self::from_money(m)
    }
}

impl WireAmount {
    pub fn from_money(m: Money) -> Self {
        Self {
            currency: m.currency.code().to_owned(),
            value: m.minor_string(),
        }
    }

    /// Parses a positive amount; `field` names it in the error.
    pub fn parse(&self, field: &str) -> Result<Money, AmountError> {
        let code = self.currency.as_str();
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(AmountError::Illegal(AmsResult::param_illegal(format!(
                "{field}.currency must be an ISO 4217 code"
            ))));
        }
        let currency = Currency::parse(code).map_err(|_| AmountError::Currency)?;
        let money = Money::parse_minor(currency, &self.value).map_err(|e| {
            AmountError::Illegal(AmsResult::param_illegal(format!("{field}.value: {e}")))
        })?;
        if money.minor == 0 {
            return Err(AmountError::Illegal(AmsResult::param_illegal(format!(
                "{field}.value must be positive"
            ))));
        }
        Ok(money)
    }
}

/// Parses a JSON body into a request type, turning serde's complaint into `PARAM_ILLEGAL`.
pub fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, AmsResult> {
    serde_json::from_slice(body)
        .map_err(|e| AmsResult::param_illegal(format!("malformed request: {e}")))
}

/// Checks an optional free-text field's length.
pub fn check_len(field: &str, value: Option<&str>, max: usize) -> Result<(), AmsResult> {
    match value {
        Some(v) if v.chars().count() > max => Err(AmsResult::param_illegal(format!(
            "{field} is longer than {max} characters"
        ))),
        _ => Ok(()),
    }
}

/// Checks a notification address: http(s), at most 1024 characters, no user info.
pub fn check_notify_url(field: &str, value: Option<&str>) -> Result<(), AmsResult> {
    let Some(url) = value else { return Ok(()) };
    check_len(field, Some(url), 1024)?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| AmsResult::param_illegal(format!("{field} must be an http or https URL")))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty()
        || authority.contains('@')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(AmsResult::param_illegal(format!(
            "{field} is not a valid notification URL"
        )));
    }
    Ok(())
}

pub fn time(t: Timestamp) -> String {
    t.to_iso8601()
}

/// The fields every answer about an existing refund carries: `refund`,
/// `inquiryRefund` and, through the notifier, `notifyRefund`.
pub fn refund_fields(r: &backflow_domain::refund::Refund) -> Value {
    let mut v = serde_json::json!({
        "refundRequestId": r.request_id.as_str(),
        "refundId": r.id.as_str(),
        "refundAmount": WireAmount::from_money(r.amount),
    });
    if let (backflow_domain::refund::RefundStatus::Success, Some(t)) = (r.status, r.finished_at) {
        v["refundTime"] = serde_json::json!(time(t));
    }
    if let Some(q) = &r.quote {
        let gross = r.settled.unwrap_or(r.held);
        v["grossSettlementAmount"] = serde_json::json!(WireAmount::from_money(gross));
        v["settlementQuote"] = quote(q, r.finished_at.unwrap_or(r.created_at));
    }
    if let Some(a) = &r.acquirer {
        v["acquirerInfo"] = serde_json::json!({
            "acquirerName": a.name,
            "acquirerMerchantId": a.merchant_id,
            "acquirerTransactionId": a.transaction_id,
            "referenceRequestId": r.id.as_str(),
            "acquirerResultCode": if r.status == backflow_domain::refund::RefundStatus::Fail { "FAIL" } else { "SUCCESS" },
            "acquirerResultMessage": "success",
        });
        v["acquirerReferenceNo"] = serde_json::json!(a.reference_no);
    }
    v
}

/// `settlementQuote`: `quotePrice` is a JSON number, `guaranteed` a JSON boolean (spec/ams.md).
fn quote(q: &backflow_domain::fx::Quote, at: Timestamp) -> Value {
    let price: Value = serde_json::from_str(&q.rate.to_decimal_string()).unwrap_or(Value::Null);
    serde_json::json!({
        "quoteId": q.id(),
        "quoteCurrencyPair": q.pair(),
        "quotePrice": price,
        "quoteStartTime": time(at),
        "quoteExpiryTime": time(at.plus_days(1)),
        "guaranteed": false,
    })
}
