//! The `result` object of AMS answers, and the one place engine errors become result codes.

use backflow_domain::ResultCode;
use backflow_engine::EngineError;
use serde::ser::{Serialize, SerializeStruct, Serializer};

/// The `result` object every AMS answer carries; its status is the code's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmsResult {
    pub code: ResultCode,
    pub message: String,
}

impl Serialize for AmsResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut result = s.serialize_struct("AmsResult", 3)?;
        result.serialize_field("resultCode", self.code.as_str())?;
        result.serialize_field("resultStatus", self.code.status().as_str())?;
        result.serialize_field("resultMessage", &self.message)?;
        result.end()
    }
}

impl AmsResult {
    pub fn new(code: ResultCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The code with its default message.
    pub fn of(code: ResultCode) -> Self {
        Self::new(code, code.message())
    }

    pub fn success() -> Self {
        Self::of(ResultCode::Success)
    }

    pub fn param_illegal(message: impl Into<String>) -> Self {
        Self::new(ResultCode::ParamIllegal, message)
    }
}

impl From<&EngineError> for AmsResult {
    fn from(e: &EngineError) -> Self {
        let with_error = |code| Self::new(code, e.to_string());
        match e {
            EngineError::RefundRefused(r) => with_error(r.code()),
            EngineError::UnknownMerchant => Self::of(ResultCode::InvalidClient),
            EngineError::UnknownKeyVersion(_) => with_error(ResultCode::KeyNotFound),
            EngineError::PaymentNotFound => Self::of(ResultCode::OrderNotExist),
            EngineError::RefundNotFound => Self::of(ResultCode::RefundNotExist),
            EngineError::PaymentStatusInvalid => with_error(ResultCode::OrderStatusInvalid),
            EngineError::CurrencyNotSupported => with_error(ResultCode::CurrencyNotSupport),
            EngineError::CaptureAmountExceeds => with_error(ResultCode::CaptureAmountExceed),
            EngineError::RepeatInconsistent => with_error(ResultCode::RepeatReqInconsistent),
            EngineError::Invalid(m) => Self::param_illegal(m.clone()),
            EngineError::TrafficLimited => with_error(ResultCode::RequestTrafficExceedLimit),
            EngineError::Injected(code) => Self::new(*code, "Injected by the sandbox."),
            // Load shed before anything was written: the same retry, nothing to log but a warning.
            EngineError::Store(backflow_store::StoreError::Busy { .. }) => {
                tracing::warn!(error = %e, "refused: the writer is busy");
                Self::new(
                    ResultCode::UnknownException,
                    "The service is busy; retry with the same request id.",
                )
            }
            EngineError::Store(_) | EngineError::Crypto(_) => {
                // The cause is logged where it happens; the merchant retries with the same request id.
                tracing::error!(error = %e, "internal failure");
                Self::of(ResultCode::UnknownException)
            }
        }
    }
}
