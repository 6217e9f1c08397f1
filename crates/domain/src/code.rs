//! Result codes: the one vocabulary the engine, its notifications and both
//! doors answer in. A code's spelling, its status and its default message are
//! written here once; the legacy gateway's own codes are named beside them,
//! with the one mapping from result codes to them (see docs/wire.md).

/// Whether an answer succeeded (`S`), failed for good (`F`), or is not known
/// yet and may be asked again with the same request id (`U`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultStatus {
    S,
    F,
    U,
}

impl ResultStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S => "S",
            Self::F => "F",
            Self::U => "U",
        }
    }
}

/// Defines [`ResultCode`] from one table: variant, spelling, status, default message.
macro_rules! result_codes {
    ($($(#[$doc:meta])* $variant:ident = $spelling:literal, $status:ident, $message:literal;)*) => {
        /// A result code, as the AMS wire spells it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ResultCode {
            $($(#[$doc])* $variant,)*
        }

        impl ResultCode {
            /// Every code, in the table's order.
            pub const ALL: &'static [ResultCode] = &[$(Self::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $spelling,)*
                }
            }

            pub fn status(self) -> ResultStatus {
                match self {
                    $(Self::$variant => ResultStatus::$status,)*
                }
            }

            /// The message an answer carries when nothing more particular is known.
            pub fn message(self) -> &'static str {
                match self {
                    $(Self::$variant => $message,)*
                }
            }
        }
    };
}

result_codes! {
    Success = "SUCCESS", S, "success.";
    RefundInProcess = "REFUND_IN_PROCESS", U, "The refund is being processed.";
    PaymentInProcess = "PAYMENT_IN_PROCESS", U, "The payment is waiting for the buyer.";
    /// An internal failure, or a channel call whose outcome is not known yet.
    UnknownException = "UNKNOWN_EXCEPTION", U,
        "An unknown exception occurred; retry with the same request id.";
    RequestTrafficExceedLimit = "REQUEST_TRAFFIC_EXCEED_LIMIT", U,
        "Too many requests; retry with the same request id.";
    ParamIllegal = "PARAM_ILLEGAL", F, "The request is malformed.";
    InvalidClient = "INVALID_CLIENT", F, "The client id is not registered.";
    InvalidSignature = "INVALID_SIGNATURE", F, "The signature does not verify.";
    KeyNotFound = "KEY_NOT_FOUND", F, "No public key is registered for this key version.";
    NoInterfaceDef = "NO_INTERFACE_DEF", F, "No such interface is defined.";
    AccessDenied = "ACCESS_DENIED", F, "Access is denied.";
    InvalidMerchantStatus = "INVALID_MERCHANT_STATUS", F, "The merchant may not do this.";
    OrderNotExist = "ORDER_NOT_EXIST", F, "The payment does not exist.";
    RefundNotExist = "REFUND_NOT_EXIST", F, "The refund does not exist.";
    OrderStatusInvalid = "ORDER_STATUS_INVALID", F, "The payment is not in a refundable state.";
    /// The payment was closed, or the channel closed the refund.
    OrderIsClosed = "ORDER_IS_CLOSED", F, "The refund cannot be processed.";
    PaymentMethodNotSupported = "PAYMENT_METHOD_NOT_SUPPORTED", F,
        "The payment method does not support refunds.";
    RefundWindowExceed = "REFUND_WINDOW_EXCEED", F, "The refund window has passed.";
    CurrencyNotSupport = "CURRENCY_NOT_SUPPORT", F, "The currency is not supported.";
    PartialRefundNotSupported = "PARTIAL_REFUND_NOT_SUPPORTED", F,
        "This payment method does not allow partial refunds.";
    MultipleRefundsNotSupported = "MULTIPLE_REFUNDS_NOT_SUPPORTED", F,
        "This payment method allows only one refund.";
    /// Outside the allowed range at either end.
    RefundAmountExceed = "REFUND_AMOUNT_EXCEED", F, "The refund amount is not allowed.";
    CaptureAmountExceed = "CAPTURE_AMOUNT_EXCEED", F, "The capture exceeds the authorised amount.";
    MerchantBalanceNotEnough = "MERCHANT_BALANCE_NOT_ENOUGH", F,
        "The merchant balance cannot cover the refund.";
    RepeatReqInconsistent = "REPEAT_REQ_INCONSISTENT", F,
        "The request id was used before with different content.";
    RiskReject = "RISK_REJECT", F, "The channel rejected the refund for risk.";
    ProcessFail = "PROCESS_FAIL", F, "The refund failed.";
}

impl ResultCode {
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// What a failed refund answers with: its stored code when that is a
    /// failure, else `PROCESS_FAIL`.
    pub fn of_failure(stored: Option<Self>) -> Self {
        stored
            .filter(|c| c.status() == ResultStatus::F)
            .unwrap_or(Self::ProcessFail)
    }
}

impl std::fmt::Display for ResultCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error code of the legacy gateway, as its `<error>` element and the
/// `error_code` of its refund notifications carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyCode {
    /// The payment is unknown, unpaid, or was made through another door.
    PurchaseTradeNotExist,
    /// `single_trade_query` names no payment of this merchant.
    TradeNotExist,
    ReturnAmountExceed,
    CurrencyNotSame,
    RefundmentValidDateExceed,
    /// The `out_return_no` was used before with different content.
    RepeatedRefundmentRequest,
    /// The payment was closed (cancelled or failed) and takes no refund.
    TradeHasClose,
    MerchantBalanceNotEnough,
    IllegalArgument,
    IllegalSign,
    IllegalPartner,
    IllegalService,
    IllegalSignType,
    IllegalCharset,
    SystemException,
}

impl LegacyCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PurchaseTradeNotExist => "PURCHASE_TRADE_NOT_EXIST",
            Self::TradeNotExist => "TRADE_NOT_EXIST",
            Self::ReturnAmountExceed => "RETURN_AMOUNT_EXCEED",
            Self::CurrencyNotSame => "CURRENCY_NOT_SAME",
            Self::RefundmentValidDateExceed => "REFUNDMENT_VALID_DATE_EXCEED",
            Self::RepeatedRefundmentRequest => "REPEATED_REFUNDMENT_REQUEST",
            Self::TradeHasClose => "TRADE_HAS_CLOSE",
            Self::MerchantBalanceNotEnough => "MERCHANT_BALANCE_NOT_ENOUGH",
            Self::IllegalArgument => "ILLEGAL_ARGUMENT",
            Self::IllegalSign => "ILLEGAL_SIGN",
            Self::IllegalPartner => "ILLEGAL_PARTNER",
            Self::IllegalService => "ILLEGAL_SERVICE",
            Self::IllegalSignType => "ILLEGAL_SIGN_TYPE",
            Self::IllegalCharset => "ILLEGAL_CHARSET",
            Self::SystemException => "SYSTEM_EXCEPTION",
        }
    }
}

/// The legacy name of a result code: what the gateway answers for a refusal,
/// a sandbox injection or a failed refund, and what its notifications say.
impl From<ResultCode> for LegacyCode {
    fn from(code: ResultCode) -> Self {
        use ResultCode as R;
        match code {
            R::MerchantBalanceNotEnough => Self::MerchantBalanceNotEnough,
            R::OrderNotExist | R::RefundNotExist | R::OrderStatusInvalid => {
                Self::PurchaseTradeNotExist
            }
            R::OrderIsClosed | R::PaymentMethodNotSupported => Self::TradeHasClose,
            R::RefundWindowExceed => Self::RefundmentValidDateExceed,
            R::RefundAmountExceed
            | R::PartialRefundNotSupported
            | R::MultipleRefundsNotSupported => Self::ReturnAmountExceed,
            R::CurrencyNotSupport => Self::CurrencyNotSame,
            R::RepeatReqInconsistent => Self::RepeatedRefundmentRequest,
            R::ParamIllegal | R::CaptureAmountExceed => Self::IllegalArgument,
            R::NoInterfaceDef => Self::IllegalService,
            R::InvalidClient | R::AccessDenied | R::InvalidMerchantStatus => Self::IllegalPartner,
            R::InvalidSignature | R::KeyNotFound => Self::IllegalSign,
            // The wire has no closer name, nor a rate-limit or in-process code: ask for a retry.
            R::Success
            | R::RefundInProcess
            | R::PaymentInProcess
            | R::UnknownException
            | R::RequestTrafficExceedLimit
            | R::RiskReject
            | R::ProcessFail => Self::SystemException,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_parses_back_from_its_spelling() {
        for code in ResultCode::ALL {
            assert_eq!(ResultCode::parse(code.as_str()), Some(*code));
        }
        assert_eq!(ResultCode::parse("CHARGEBACK_PENDING"), None);
        assert_eq!(ResultCode::parse(""), None);
    }

    #[test]
    fn only_codes_that_ask_for_a_retry_are_unknown() {
        let unknown: Vec<_> = ResultCode::ALL
            .iter()
            .filter(|c| c.status() == ResultStatus::U)
            .map(|c| c.as_str())
            .collect();
        assert_eq!(
            unknown,
            [
                "REFUND_IN_PROCESS",
                "PAYMENT_IN_PROCESS",
                "UNKNOWN_EXCEPTION",
                "REQUEST_TRAFFIC_EXCEED_LIMIT"
            ]
        );
        assert_eq!(ResultCode::Success.status(), ResultStatus::S);
    }

    #[test]
    fn a_failed_refund_answers_with_a_failure_code() {
        use ResultCode as R;
        assert_eq!(R::of_failure(Some(R::RiskReject)), R::RiskReject);
        assert_eq!(R::of_failure(Some(R::UnknownException)), R::ProcessFail);
        assert_eq!(R::of_failure(None), R::ProcessFail);
    }

    #[test]
    fn result_codes_keep_their_legacy_names() {
        for (code, legacy) in [
            ("MERCHANT_BALANCE_NOT_ENOUGH", "MERCHANT_BALANCE_NOT_ENOUGH"),
            ("ORDER_NOT_EXIST", "PURCHASE_TRADE_NOT_EXIST"),
            ("ORDER_STATUS_INVALID", "PURCHASE_TRADE_NOT_EXIST"),
            ("ORDER_IS_CLOSED", "TRADE_HAS_CLOSE"),
            ("PAYMENT_METHOD_NOT_SUPPORTED", "TRADE_HAS_CLOSE"),
            ("REFUND_WINDOW_EXCEED", "REFUNDMENT_VALID_DATE_EXCEED"),
            ("REFUND_AMOUNT_EXCEED", "RETURN_AMOUNT_EXCEED"),
            ("PARTIAL_REFUND_NOT_SUPPORTED", "RETURN_AMOUNT_EXCEED"),
            ("MULTIPLE_REFUNDS_NOT_SUPPORTED", "RETURN_AMOUNT_EXCEED"),
            ("CURRENCY_NOT_SUPPORT", "CURRENCY_NOT_SAME"),
            ("REPEAT_REQ_INCONSISTENT", "REPEATED_REFUNDMENT_REQUEST"),
            ("PARAM_ILLEGAL", "ILLEGAL_ARGUMENT"),
            ("ACCESS_DENIED", "ILLEGAL_PARTNER"),
            ("INVALID_MERCHANT_STATUS", "ILLEGAL_PARTNER"),
            ("RISK_REJECT", "SYSTEM_EXCEPTION"),
            ("PROCESS_FAIL", "SYSTEM_EXCEPTION"),
            ("UNKNOWN_EXCEPTION", "SYSTEM_EXCEPTION"),
        ] {
            let code = ResultCode::parse(code).unwrap();
            assert_eq!(LegacyCode::from(code).as_str(), legacy, "{code}");
        }
    }
}
