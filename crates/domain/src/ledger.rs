//! Double-entry postings. Every change of a balance is a posting whose legs sum
//! to zero per currency; the store applies a posting in the same transaction as
//! the state change it belongs to.
//!
//! Merchant money lives in the merchant's settlement currency. When a payment
//! is in another currency, the FX position account bridges the two, so each
//! currency balances on its own.

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
    /// The provider's currency exchange position.
    FxPosition,
    /// Commission earned on payments.
    CommissionRevenue,
    /// Money merchants send in (or take out) outside payments: top-ups and adjustments.
    MerchantFunding,
    /// Funds paid out to merchants by settlement batches.
    SettlementPayout,
}

impl Account {
    /// The account's key in storage.
    pub fn key(&self) -> String {
        match self {
            Self::MerchantAvailable(m) => format!("merchant:{m}:available"),
            Self::MerchantReserved(m) => format!("merchant:{m}:reserved"),
            Self::SchemeClearing => "scheme:clearing".to_owned(),
            Self::FxPosition => "provider:fx".to_owned(),
            Self::CommissionRevenue => "provider:commission".to_owned(),
            Self::MerchantFunding => "external:funding".to_owned(),
            Self::SettlementPayout => "external:settlement".to_owned(),
        }
    }

    /// The lowest balance a new account row may reach: merchant money may not
    /// go below zero unless the contract grants an overdraft (set by the engine).
    pub fn default_floor(&self) -> Option<i64> {
        match self {
            Self::MerchantAvailable(_) | Self::MerchantReserved(_) => Some(0),
            _ => None,
        }
    }
}

/// Why money moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostingKind {
    PaymentReceived,
    RefundReserved,
    RefundSettled,
    RefundReleased,
    RefundReversed,
    Funding,
    Adjustment,
    /// A settlement batch paid the merchant out.
    Settlement,
}

impl PostingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentReceived => "PAYMENT_RECEIVED",
            Self::RefundReserved => "REFUND_RESERVED",
            Self::RefundSettled => "REFUND_SETTLED",
            Self::RefundReleased => "REFUND_RELEASED",
            Self::RefundReversed => "REFUND_REVERSED",
            Self::Funding => "FUNDING",
            Self::Adjustment => "ADJUSTMENT",
            Self::Settlement => "SETTLEMENT",
        }
    }

    /// The postings of transactions (payments, captures, refunds, reversals):
    /// what day reports list and settlement batches pay out. Funding,
    /// adjustments and settlements themselves are not transactions.
    pub const TRANSACTIONS: [PostingKind; 5] = [
        Self::PaymentReceived,
        Self::RefundReserved,
        Self::RefundSettled,
        Self::RefundReleased,
        Self::RefundReversed,
    ];
}

/// One side of a posting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    pub account: Account,
    pub currency: Currency,
    /// Positive credits the account, negative debits it.
    pub amount: i64,
}

/// A set of legs that must balance per currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub kind: PostingKind,
    /// The payment, capture or refund id the posting belongs to.
    pub reference: String,
    pub legs: Vec<Leg>,
}

impl Posting {
    pub fn new(kind: PostingKind, reference: impl Into<String>) -> Self {
        Self {
            kind,
            reference: reference.into(),
            legs: Vec::new(),
        }
    }

    /// Adds a leg; zero legs are left out.
    pub fn leg(mut self, account: Account, currency: Currency, amount: i64) -> Self {
        if amount != 0 {
            self.legs.push(Leg {
                account,
                currency,
                amount,
            });
        }
        self
    }

    /// Moves `money` from one account to another.
    pub fn transfer(self, from: Account, to: Account, money: Money) -> Self {
        self.leg(from, money.currency, -money.minor)
            .leg(to, money.currency, money.minor)
    }

    /// Exchanges `from` into `to` through the FX position (nothing when the currencies match).
    fn exchange(self, from: Money, to: Money) -> Self {
        if from.currency == to.currency {
            return self;
        }
        self.leg(Account::FxPosition, from.currency, from.minor)
            .leg(Account::FxPosition, to.currency, -to.minor)
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

/// A payment (or capture) reaches the merchant: `paid` arrives from the
/// scheme, is exchanged into `settled`, and the merchant is credited net of `commission`.
pub fn payment_received(
    merchant: &ClientId,
    reference: &str,
    paid: Money,
    settled: Money,
    commission: i64,
) -> Posting {
    let c = settled.currency;
    Posting::new(PostingKind::PaymentReceived, reference)
        .leg(Account::SchemeClearing, paid.currency, -paid.minor)
        .exchange(paid, settled)
        .leg(
            Account::MerchantAvailable(merchant.clone()),
            c,
            settled.minor - commission,
        )
        .leg(Account::CommissionRevenue, c, commission)
}

/// An accepted refund holds the merchant's settlement funds aside.
pub fn refund_reserved(merchant: &ClientId, reference: &str, held: Money) -> Posting {
    Posting::new(PostingKind::RefundReserved, reference).transfer(
        Account::MerchantAvailable(merchant.clone()),
        Account::MerchantReserved(merchant.clone()),
        held,
    )
}

/// A refund succeeded: the held funds go to the buyer, settled at the
/// success day's rate (`settled`; any difference from `held` comes from or
/// goes to the available balance), and the contract's share of the
/// commission comes back.
pub fn refund_settled(
    merchant: &ClientId,
    reference: &str,
    held: Money,
    settled: Money,
    refunded: Money,
    commission_returned: i64,
) -> Posting {
    let c = settled.currency;
    Posting::new(PostingKind::RefundSettled, reference)
        .leg(Account::MerchantReserved(merchant.clone()), c, -held.minor)
        .leg(
            Account::MerchantAvailable(merchant.clone()),
            c,
            held.minor - settled.minor + commission_returned,
        )
        .leg(Account::CommissionRevenue, c, -commission_returned)
        .exchange(settled, refunded)
        .leg(Account::SchemeClearing, refunded.currency, refunded.minor)
}

/// A refund failed: the held funds return to the merchant.
pub fn refund_released(merchant: &ClientId, reference: &str, held: Money) -> Posting {
    Posting::new(PostingKind::RefundReleased, reference).transfer(
        Account::MerchantReserved(merchant.clone()),
        Account::MerchantAvailable(merchant.clone()),
        held,
    )
}

/// The buyer's bank returned a successful refund's money: it is the merchant's again.
pub fn refund_reversed(
    merchant: &ClientId,
    reference: &str,
    refunded: Money,
    settled: Money,
) -> Posting {
    Posting::new(PostingKind::RefundReversed, reference)
        .leg(Account::SchemeClearing, refunded.currency, -refunded.minor)
        .exchange(refunded, settled)
        .leg(
            Account::MerchantAvailable(merchant.clone()),
            settled.currency,
            settled.minor,
        )
}

/// Money the merchant sends in (positive) or takes out (negative).
pub fn funding(kind: PostingKind, merchant: &ClientId, reference: &str, money: Money) -> Posting {
    Posting::new(kind, reference).transfer(
        Account::MerchantFunding,
        Account::MerchantAvailable(merchant.clone()),
        money,
    )
}

/// A settlement batch pays `money` out of the merchant's available balance.
pub fn settlement_paid(merchant: &ClientId, batch_id: &str, money: Money) -> Posting {
    Posting::new(PostingKind::Settlement, batch_id).transfer(
        Account::MerchantAvailable(merchant.clone()),
        Account::SettlementPayout,
        money,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(code: &str, minor: i64) -> Money {
        Money::new(Currency::parse(code).unwrap(), minor)
    }

    #[test]
    fn every_posting_balances_across_currencies() {
        let id = ClientId::parse("M").unwrap();
        let postings = [
            payment_received(&id, "P", m("USD", 1000), m("SGD", 1350), 34),
            payment_received(&id, "P", m("USD", 1000), m("USD", 1000), 25),
            refund_reserved(&id, "R", m("SGD", 405)),
            refund_settled(&id, "R", m("SGD", 405), m("SGD", 408), m("USD", 300), 10),
            refund_settled(&id, "R", m("USD", 300), m("USD", 300), m("USD", 300), 0),
            refund_released(&id, "R", m("SGD", 405)),
            refund_reversed(&id, "R", m("USD", 300), m("SGD", 408)),
            funding(PostingKind::Funding, &id, "F", m("SGD", -5)),
            settlement_paid(&id, "B", m("SGD", 1316)),
        ];
        for p in &postings {
            assert!(p.is_balanced(), "{p:?}");
        }
        assert_eq!(postings[0].legs.len(), 5);
        assert_eq!(postings[1].legs.len(), 3, "no FX legs in one currency");
    }

    #[test]
    fn unbalanced_postings_are_detected() {
        let id = ClientId::parse("M").unwrap();
        let mut broken = refund_reserved(&id, "R", m("USD", 10));
        broken.legs[1].amount = 9;
        assert!(!broken.is_balanced());
    }
}
