//! The channels a refund travels to: Alipay+ wallets, card acquirers, bank
//! transfer… Backflow ships simulators behind one trait; a real connector
//! implements the same trait.

use backflow_domain::method::{Completion, MethodCapabilities};
use backflow_domain::payment::Payment;
use backflow_domain::refund::Refund;

/// What a channel says when a refund is submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelOutcome {
    /// The money went back to the buyer.
    Succeeded,
    /// The channel refused; the refund fails with this reason.
    Failed { reason: String },
    /// Accepted; the result arrives later.
    Pending,
}

/// A refund channel. Simulators answer at once and in-process, so the engine
/// may ask them inside its transaction.
pub trait RefundChannel: Send + Sync {
    fn submit(&self, payment: &Payment, refund: &Refund) -> ChannelOutcome;
}

/// The sandbox simulator: sync methods succeed at once, async ones are accepted.
#[derive(Debug, Default)]
pub struct Simulator;

impl Simulator {
    pub fn outcome_for(caps: &MethodCapabilities) -> ChannelOutcome {
        match caps.completion {
            Completion::Sync => ChannelOutcome::Succeeded,
            Completion::Async => ChannelOutcome::Pending,
        }
    }
}

impl RefundChannel for Simulator {
    fn submit(&self, payment: &Payment, _refund: &Refund) -> ChannelOutcome {
        let caps = backflow_domain::method::default_capabilities(
            &payment.method_type,
            payment.acquirer.as_deref(),
        );
        Self::outcome_for(&caps)
    }
}
