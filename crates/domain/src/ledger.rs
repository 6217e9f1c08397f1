//! Double-entry postings. Every change of a balance is a posting whose legs sum
//! to zero per currency; the store applies a posting in the same transaction as
//! the state change it belongs to.

use crate::ids::ClientId;
use crate::money::{Currency, Money};

/// A ledger account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Account {
    /// What Backflow owes the merchant and the merchant may spend on refunds.
    MerchantAvailable(ClientId),
    /// Funds held for refunds that are accepted but not final.
    MerchantReserved(ClientId),
    /// Money in flight with the payment schemes: payments arrive from it, refunds go back to it.
    SchemeClearing,
}

impl Account {
    /// The account's key in storage.
    pub fn key(&self) -> String {
        match self {
            Self::MerchantAvailable(m) => format!("merchant:{m}:available"),
            Self::MerchantReserved(m) => format!("merchant:{m}:reserved"),
            Self::SchemeClearing => "scheme:clearing".to_owned(),
        }
    }

    /// Whether the account may never go below its floor (merchant money).
    pub fn is_merchant(&self) -> bool {
        !matches!(self, Self::SchemeClearing)
    }
}

/// Why money moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostingKind {
    PaymentReceived,
    RefundPaid,
    RefundReserved,
    RefundSettled,
    RefundReleased,
    Adjustment,
}

impl PostingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentReceived => "PAYMENT_RECEIVED",
            Self::RefundPaid => "REFUND_PAID",
            Self::RefundReserved => "REFUND_RESERVED",
            Self::RefundSettled => "REFUND_SETTLED",
            Self::RefundReleased => "REFUND_RELEASED",
            Self::Adjustment => "ADJUSTMENT",
        }
    }
}

/// One side of a posting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    pub account: Account,
    pub currency: Currency,
    /// Positive credits the account, negative debits it.
    pub amount: i64,
}

/// A balanced set of legs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub kind: PostingKind,
    /// The payment, capture or refund id the posting belongs to.
    pub reference: String,
    pub legs: Vec<Leg>,
}

impl Posting {
    /// Moves `money` from one account to another.
    pub fn transfer(
        kind: PostingKind,
        reference: impl Into<String>,
        from: Account,
        to: Account,
        money: Money,
    ) -> Self {
        Self {
            kind,
            reference: reference.into(),
            legs: vec![
                Leg {
                    account: from,
                    currency: money.currency,
                    amount: -money.minor,
                },
                Leg {
                    account: to,
                    currency: money.currency,
                    amount: money.minor,
                },
            ],
        }
    }

    /// Whether the legs sum to zero in every currency.
    pub fn is_balanced(&self) -> bool {
        let mut sums: Vec<(Currency, i128)> = Vec::new();
        for leg in &self.legs {
            match sums.iter_mut().find(|(c, _)| *c == leg.currency) {
                Some((_, s)) => *s += i128::from(leg.amount),
                None => sums.push((leg.currency, i128::from(leg.amount))),
            }
        }
        sums.iter().all(|(_, s)| *s == 0)
    }
}

/// A payment's money reaches the merchant.
pub fn payment_received(merchant: &ClientId, reference: &str, money: Money) -> Posting {
    Posting::transfer(
        PostingKind::PaymentReceived,
        reference,
        Account::SchemeClearing,
        Account::MerchantAvailable(merchant.clone()),
        money,
    )
}

/// A refund's money leaves the merchant's balance for the buyer.
pub fn refund_paid(merchant: &ClientId, reference: &str, money: Money) -> Posting {
    Posting::transfer(
        PostingKind::RefundPaid,
        reference,
        Account::MerchantAvailable(merchant.clone()),
        Account::SchemeClearing,
        money,
    )
}

/// An accepted refund that is not final holds the merchant's funds aside.
pub fn refund_reserved(merchant: &ClientId, reference: &str, money: Money) -> Posting {
    Posting::transfer(
        PostingKind::RefundReserved,
        reference,
        Account::MerchantAvailable(merchant.clone()),
        Account::MerchantReserved(merchant.clone()),
        money,
    )
}

/// A reserved refund succeeded: the held funds go to the buyer.
pub fn refund_settled(merchant: &ClientId, reference: &str, money: Money) -> Posting {
    Posting::transfer(
        PostingKind::RefundSettled,
        reference,
        Account::MerchantReserved(merchant.clone()),
        Account::SchemeClearing,
        money,
    )
}

/// A reserved refund failed: the held funds return to the merchant.
pub fn refund_released(merchant: &ClientId, reference: &str, money: Money) -> Posting {
    Posting::transfer(
        PostingKind::RefundReleased,
        reference,
        Account::MerchantReserved(merchant.clone()),
        Account::MerchantAvailable(merchant.clone()),
        money,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_balance() {
        let usd = Currency::parse("USD").unwrap();
        let m = ClientId::parse("M").unwrap();
        let p = refund_paid(&m, "R", Money::new(usd, 10));
        assert!(p.is_balanced());
        assert_eq!(p.legs[0].account.key(), "merchant:M:available");
        let mut broken = p.clone();
        broken.legs[1].amount = 9;
        assert!(!broken.is_balanced());
    }
}
