//! Identifiers. Each is parsed once at the door; past it, no raw string carries meaning.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} contains a control character")]
    ControlCharacter { field: &'static str },
}

fn check(field: &'static str, max: usize, s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty { field });
    }
    if s.chars().count() > max {
        return Err(IdError::TooLong { field, max });
    }
    if s.chars().any(char::is_control) {
        return Err(IdError::ControlCharacter { field });
    }
    Ok(())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;

            pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check($field, $max, &s)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

identifier!(
    /// A merchant's client id; ids that start with `SANDBOX_` are sandbox merchants.
    ClientId, "clientId", 64
);
identifier!(
    /// Backflow's id for a payment.
    PaymentId, "paymentId", 64
);
identifier!(
    /// The merchant's id for a payment: the idempotency key of `pay`.
    PaymentRequestId, "paymentRequestId", 64
);
identifier!(
    /// Backflow's id for a refund.
    RefundId, "refundId", 64
);
identifier!(
    /// The merchant's id for a refund: the idempotency key of `refund`, permanent per merchant.
    RefundRequestId, "refundRequestId", 64
);
identifier!(
    /// Backflow's id for a capture.
    CaptureId, "captureId", 64
);
identifier!(
    /// The merchant's id for a capture: the idempotency key of `capture`.
    CaptureRequestId, "captureRequestId", 64
);

impl ClientId {
    pub const SANDBOX_PREFIX: &'static str = "SANDBOX_";

    /// Sandbox merchants may use error injection, notify private addresses and
    /// complete payments on the sandbox checkout page.
    pub fn is_sandbox(&self) -> bool {
        self.0.starts_with(Self::SANDBOX_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_enforced() {
        assert!(RefundRequestId::parse("a".repeat(64)).is_ok());
        assert_eq!(
            RefundRequestId::parse("a".repeat(65)),
            Err(IdError::TooLong {
                field: "refundRequestId",
                max: 64
            })
        );
        assert!(matches!(PaymentId::parse(""), Err(IdError::Empty { .. })));
        assert!(matches!(
            PaymentId::parse("a\nb"),
            Err(IdError::ControlCharacter { .. })
        ));
    }

    #[test]
    fn sandbox_prefix() {
        assert!(ClientId::parse("SANDBOX_5YEZ").unwrap().is_sandbox());
        assert!(!ClientId::parse("5YEZ").unwrap().is_sandbox());
    }
}
