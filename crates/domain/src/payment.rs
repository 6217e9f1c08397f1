//! Payments: what a refund refers to.

use crate::clock::Timestamp;
use crate::ids::{ClientId, PaymentId, PaymentRequestId};
use crate::money::{Currency, Money};

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Created, waiting for the buyer (cashier payments).
    Processing,
    /// A card authorisation: funds held, nothing captured yet.
    Authorized,
    /// Paid, or captured at least once.
    Success,
    Fail,
    Cancelled,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "PROCESSING",
            Self::Authorized => "AUTHORIZED",
            Self::Success => "SUCCESS",
            Self::Fail => "FAIL",
            Self::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "PROCESSING" => Self::Processing,
            "AUTHORIZED" => Self::Authorized,
            "SUCCESS" => Self::Success,
            "FAIL" => Self::Fail,
            "CANCELLED" => Self::Cancelled,
            _ => return None,
        })
    }
}

/// The door a payment came through. A payment is refunded through the door it was made through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// The AMS JSON API (Antom's current SDKs, APO).
    Ams,
    /// The legacy cross-border gateway (`/gateway.do`).
    Legacy,
}

impl Door {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ams => "AMS",
            Self::Legacy => "LEGACY",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "AMS" => Some(Self::Ams),
            "LEGACY" => Some(Self::Legacy),
            _ => None,
        }
    }
}

/// How an acquirer names a refund it carried (APO's `acquirerInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquirerRef {
    pub name: String,
    pub merchant_id: String,
    pub transaction_id: String,
    pub reference_no: String,
}

/// The product a payment was made under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductCode {
    Cashier,
    Agreement,
    InStore,
}

impl ProductCode {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "CASHIER_PAYMENT" => Self::Cashier,
            "AGREEMENT_PAYMENT" => Self::Agreement,
            "IN_STORE_PAYMENT" => Self::InStore,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cashier => "CASHIER_PAYMENT",
            Self::Agreement => "AGREEMENT_PAYMENT",
            Self::InStore => "IN_STORE_PAYMENT",
        }
    }
}

/// A payment, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: PaymentId,
    pub merchant: ClientId,
    pub door: Door,
    pub request_id: PaymentRequestId,
    pub amount: Money,
    pub method_type: String,
    pub product_code: ProductCode,
    pub status: PaymentStatus,
    /// Authorise now, capture later (cards).
    pub is_authorization: bool,
    /// Sum of captures, in the payment currency.
    pub captured_minor: i64,
    /// No capture may follow (the merchant sent `isLastCapture`).
    pub capture_closed: bool,
    pub settlement_currency: Currency,
    /// What the payment (or its captures) settled for, in the settlement currency, before commission.
    pub settled_minor: i64,
    /// Commission charged on it, in the settlement currency.
    pub commission_minor: i64,
    /// The acquirer a card payment was routed through (APO), if any.
    pub acquirer: Option<String>,
    /// A chargeback whose liability is not yet decided blocks card refunds.
    pub chargeback_pending: bool,
    pub notify_url: Option<String>,
    pub created_at: Timestamp,
    /// When the payment succeeded (or was first captured): the refund window starts here.
    pub paid_at: Option<Timestamp>,
}

impl Payment {
    /// What refunds may add up to: the amount paid, or for authorisations, what was captured.
    pub fn refundable_base(&self) -> i64 {
        if self.is_authorization {
            self.captured_minor
        } else {
            self.amount.minor
        }
    }

    /// What is still authorised and not captured.
    pub fn capturable(&self) -> i64 {
        let open = self.is_authorization
            && !self.capture_closed
            && matches!(
                self.status,
                PaymentStatus::Authorized | PaymentStatus::Success
            );
        if open {
            self.amount.minor - self.captured_minor
        } else {
            0
        }
    }
}
