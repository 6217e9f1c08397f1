//! One file per AMS operation.

pub mod cancel;
pub mod capture;
pub mod inquiry_payment;
pub mod inquiry_refund;
pub mod pay;
pub mod refund;

use crate::result::AmsResult;
use crate::wire::{AmountError, WireAmount};
use backflow_domain::{Money, ResultCode};

/// Parses an amount field; an unserved currency answers `CURRENCY_NOT_SUPPORT`.
fn amount(field: &str, wire: &WireAmount) -> Result<Money, AmsResult> {
    wire.parse(field).map_err(|e| match e {
        AmountError::Illegal(r) => r,
        AmountError::Currency => AmsResult::new(
            ResultCode::CurrencyNotSupport,
            format!("{field}.currency is not supported."),
        ),
    })
}

/// Parses an identifier field into its domain type.
fn id<T>(
    parse: impl FnOnce(String) -> Result<T, backflow_domain::ids::IdError>,
    value: String,
) -> Result<T, AmsResult> {
    parse(value).map_err(|e| AmsResult::param_illegal(e.to_string()))
}

/// Engine errors, as this door names them.
fn engine_error(e: backflow_engine::EngineError) -> AmsResult {
    AmsResult::from(&e)
}
