//! The channels a refund travels to: Alipay+ wallets, card acquirers, bank
//! transfer… Backflow ships a simulator behind one trait; a real connector
//! implements the same trait.

use crate::ids::random_digits;
use backflow_domain::method::{Completion, MethodCapabilities};
use backflow_domain::payment::{AcquirerRef, Payment};
use backflow_domain::ResultCode;

/// How a refund the channel accepted ends, when it ends later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    Success,
    Fail {
        reason: ResultCode,
    },
    /// Succeeds, then the buyer's bank returns the money after `after_ms`.
    SuccessThenReverse {
        after_ms: i64,
    },
}

impl Settle {
    /// The text a scheduled completion job carries.
    pub fn encode(&self) -> String {
        match self {
            Self::Success => "SUCCESS".into(),
            Self::Fail { reason } => format!("FAIL:{reason}"),
            Self::SuccessThenReverse { after_ms } => format!("REVERSE:{after_ms}"),
        }
    }

    pub fn decode(s: &str) -> Option<Self> {
        match s.split_once(':') {
            None if s == "SUCCESS" => Some(Self::Success),
            Some(("FAIL", reason)) => ResultCode::parse(reason).map(|reason| Self::Fail { reason }),
            Some(("REVERSE", ms)) => ms
                .parse()
                .ok()
                .map(|after_ms| Self::SuccessThenReverse { after_ms }),
            _ => None,
        }
    }
}

/// What a channel says when a refund is submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelOutcome {
    /// Settled now.
    Now(Settle),
    /// Accepted; the result arrives after `after_ms`.
    Pending { after_ms: i64, then: Settle },
    /// The call timed out: the refund's fate is unknown until `after_ms` later.
    TimedOut { after_ms: i64, then: Settle },
}

/// A channel's answer, with the acquirer's references when one carried the refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelAnswer {
    pub outcome: ChannelOutcome,
    pub acquirer: Option<AcquirerRef>,
}

/// A refund channel. The simulator answers at once and in-process, so the
/// engine may ask it inside its transaction; a networked connector would be
/// asked after the refund is committed as processing.
pub trait RefundChannel: Send + Sync {
    fn submit(&self, payment: &Payment, caps: &MethodCapabilities) -> ChannelAnswer;
}

/// How long the simulated asynchronous channels take.
pub const SIMULATED_ASYNC_MS: i64 = 60_000;

/// The sandbox simulator: sync methods settle at once, async ones a minute later.
#[derive(Debug, Default)]
pub struct Simulator;

impl Simulator {
    /// The references an acquirer such as 2C2P gives a refund it carried.
    pub fn acquirer_ref(payment: &Payment) -> Option<AcquirerRef> {
        let acquirer = payment.acquirer.as_deref()?;
        let name = acquirer.split('_').next().unwrap_or(acquirer).to_owned();
        // A stable merchant id per merchant and acquirer, as the acquirer would assign it.
        let seed = payment
            .merchant
            .as_str()
            .bytes()
            .chain(acquirer.bytes())
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        Some(AcquirerRef {
            name,
            merchant_id: format!("{:015}", seed % 1_000_000_000_000_000),
            transaction_id: random_digits(9),
            reference_no: random_digits(31),
        })
    }
}

impl RefundChannel for Simulator {
    fn submit(&self, payment: &Payment, caps: &MethodCapabilities) -> ChannelAnswer {
        let outcome = match caps.completion {
            Completion::Sync => ChannelOutcome::Now(Settle::Success),
            Completion::Async => ChannelOutcome::Pending {
                after_ms: SIMULATED_ASYNC_MS,
                then: Settle::Success,
            },
        };
        ChannelAnswer {
            outcome,
            acquirer: Self::acquirer_ref(payment),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settle_plans_round_trip() {
        for s in [
            Settle::Success,
            Settle::Fail {
                reason: ResultCode::ProcessFail,
            },
            Settle::SuccessThenReverse { after_ms: 5 },
        ] {
            assert_eq!(Settle::decode(&s.encode()), Some(s));
        }
        assert_eq!(Settle::decode("LATER"), None);
    }
}
