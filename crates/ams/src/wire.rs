//! The JSON shapes of the AMS wire, and their parsing into domain types.

use crate::result::AmsResult;
use backflow_domain::{Currency, Money, Timestamp};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `{"currency":"USD","value":"1000"}`; `value` counts minor units.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[schema(as = Amount)]
pub struct WireAmount {
    pub currency: String,
    /// A string on the wire; a JSON number is accepted too.
    #[serde(deserialize_with = "string_or_number")]
    #[schema(schema_with = crate::openapi::minor_units)]
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

/// Checks a notification address with the engine's rules (scheme, length, no
/// user info, and outside the sandbox no private or loopback target).
pub fn check_notify_url(
    field: &str,
    value: Option<&str>,
    merchant: &backflow_domain::ClientId,
) -> Result<(), AmsResult> {
    match value {
        Some(url) => backflow_engine::notices::check_notify_url(url, merchant)
            .map(drop)
            .map_err(|e| AmsResult::param_illegal(format!("{field}: {e}"))),
        None => Ok(()),
    }
}

pub fn time(t: Timestamp) -> String {
    t.to_iso8601()
}

/// `refundStatus` on the wire: a refund waiting for funds is still processing.
pub fn refund_status(status: backflow_domain::refund::RefundStatus) -> &'static str {
    use backflow_domain::refund::RefundStatus;
    match status {
        RefundStatus::Success => "SUCCESS",
        RefundStatus::Fail => "FAIL",
        RefundStatus::Processing | RefundStatus::WaitingFunds => "PROCESSING",
    }
}
