//! The engine's one error type. Doors map it to their own codes, once.

use backflow_domain::refund::RefundRefused;
use backflow_domain::ResultCode;
use backflow_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    RefundRefused(#[from] RefundRefused),
    #[error("no such merchant")]
    UnknownMerchant,
    #[error("no public key with version {0} is registered for this merchant")]
    UnknownKeyVersion(u32),
    #[error("no such payment")]
    PaymentNotFound,
    #[error("no such refund")]
    RefundNotFound,
    #[error("the payment is not in a state that allows this")]
    PaymentStatusInvalid,
    #[error("the currency is not supported here")]
    CurrencyNotSupported,
    #[error("the capture exceeds the authorised amount")]
    CaptureAmountExceeds,
    #[error("the request id was used before with different content")]
    RepeatInconsistent,
    #[error("too many refund requests; retry with the same request id")]
    TrafficLimited,
    #[error("sandbox injection: {0}")]
    Injected(ResultCode),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    #[error("key material is unusable: {0}")]
    Crypto(#[from] backflow_crypto::CryptoError),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
