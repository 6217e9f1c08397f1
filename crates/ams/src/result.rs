//! AMS result codes, and the one place engine errors become them.

use backflow_domain::refund::RefundRefused;
use backflow_engine::EngineError;
use serde::Serialize;

/// `S`, `F` or `U`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ResultStatus {
    S,
    F,
    U,
}

/// The `result` object every AMS answer carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AmsResult {
    pub result_code: &'static str,
    pub result_status: ResultStatus,
    pub result_message: String,
}

impl AmsResult {
    pub fn new(code: &'static str, status: ResultStatus, message: impl Into<String>) -> Self {
        Self {
            result_code: code,
            result_status: status,
            result_message: message.into(),
        }
    }

    pub fn success() -> Self {
        Self::new("SUCCESS", ResultStatus::S, "success.")
    }

    pub fn failed(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, ResultStatus::F, message)
    }

    pub fn param_illegal(message: impl Into<String>) -> Self {
        Self::failed("PARAM_ILLEGAL", message)
    }

    pub fn refund_in_process() -> Self {
        Self::new(
            "REFUND_IN_PROCESS",
            ResultStatus::U,
            "The refund is being processed.",
        )
    }
}

/// The status a refund-path code answers with: only the codes that ask for a retry are `U`.
pub fn status_of(code: &str) -> ResultStatus {
    match code {
        "SUCCESS" => ResultStatus::S,
        "REFUND_IN_PROCESS" | "UNKNOWN_EXCEPTION" | "REQUEST_TRAFFIC_EXCEED_LIMIT" => {
            ResultStatus::U
        }
        _ => ResultStatus::F,
    }
}

/// A stored failure code as this door names it; codes it does not know become `PROCESS_FAIL`.
pub fn known_failure(code: &str) -> &'static str {
    backflow_engine::sandbox::KNOWN_CODES
        .iter()
        .find(|c| **c == code && status_of(c) == ResultStatus::F)
        .copied()
        .unwrap_or("PROCESS_FAIL")
}

/// The refund-path names of the rules' refusals.
pub fn refused(r: &RefundRefused) -> AmsResult {
    let code = match r {
        RefundRefused::OrderStatusInvalid | RefundRefused::ChargebackPending => {
            "ORDER_STATUS_INVALID"
        }
        RefundRefused::MethodNotSupported => "PAYMENT_METHOD_NOT_SUPPORTED",
        RefundRefused::WindowExceeded { .. } => "REFUND_WINDOW_EXCEED",
        RefundRefused::CurrencyMismatch => "CURRENCY_NOT_SUPPORT",
        RefundRefused::PartialNotSupported => "PARTIAL_REFUND_NOT_SUPPORTED",
        RefundRefused::MultipleNotSupported => "MULTIPLE_REFUNDS_NOT_SUPPORTED",
        // Antom names one code for both ends of the allowed range (docs/wire.md#result-codes).
        RefundRefused::BelowMinimum { .. } | RefundRefused::AmountExceeds { .. } => {
            "REFUND_AMOUNT_EXCEED"
        }
        RefundRefused::BalanceNotEnough => "MERCHANT_BALANCE_NOT_ENOUGH",
        RefundRefused::RepeatInconsistent => "REPEAT_REQ_INCONSISTENT",
    };
    AmsResult::failed(code, r.to_string())
}

impl From<&EngineError> for AmsResult {
    fn from(e: &EngineError) -> Self {
        match e {
            EngineError::RefundRefused(r) => refused(r),
            EngineError::UnknownMerchant => {
                Self::failed("INVALID_CLIENT", "The client id is not registered.")
            }
            EngineError::UnknownKeyVersion(_) => Self::failed("KEY_NOT_FOUND", e.to_string()),
            EngineError::PaymentNotFound => {
                Self::failed("ORDER_NOT_EXIST", "The payment does not exist.")
            }
            EngineError::RefundNotFound => {
                Self::failed("REFUND_NOT_EXIST", "The refund does not exist.")
            }
            EngineError::PaymentStatusInvalid => {
                Self::failed("ORDER_STATUS_INVALID", e.to_string())
            }
            EngineError::CurrencyNotSupported => {
                Self::failed("CURRENCY_NOT_SUPPORT", e.to_string())
            }
            EngineError::CaptureAmountExceeds => {
                Self::failed("CAPTURE_AMOUNT_EXCEED", e.to_string())
            }
            EngineError::RepeatInconsistent => {
                Self::failed("REPEAT_REQ_INCONSISTENT", e.to_string())
            }
            EngineError::Invalid(m) => Self::param_illegal(m.clone()),
            EngineError::TrafficLimited => Self::new(
                "REQUEST_TRAFFIC_EXCEED_LIMIT",
                ResultStatus::U,
                e.to_string(),
            ),
            EngineError::Injected(code) => {
                Self::new(code, status_of(code), "Injected by the sandbox.")
            }
            // Load shed before anything was written: the same retry, nothing to log but a warning.
            EngineError::Store(backflow_store::StoreError::Busy { .. }) => {
                tracing::warn!(error = %e, "refused: the writer is busy");
                Self::new(
                    "UNKNOWN_EXCEPTION",
                    ResultStatus::U,
                    "The service is busy; retry with the same request id.",
                )
            }
            EngineError::Store(_) | EngineError::Crypto(_) => {
                // The cause is logged where it happens; the merchant retries with the same request id.
                tracing::error!(error = %e, "internal failure");
                Self::new(
                    "UNKNOWN_EXCEPTION",
                    ResultStatus::U,
                    "An unknown exception occurred; retry with the same request id.",
                )
            }
        }
    }
}
