//! The channels a refund travels to: Alipay+ wallets, card acquirers, bank
//! transfer… Backflow ships a simulator behind one trait; a real connector
//! implements the same trait.

use crate::error::{EngineError, Result};
use crate::ids::random_digits;
use crate::Deployment;
use backflow_domain::merchant::Merchant;
use backflow_domain::method::{Completion, MethodCapabilities};
use backflow_domain::payment::{AcquirerRef, Payment};
use backflow_domain::ResultCode;
use backflow_store::StoreError;

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

/// The simulator's name in settings and contracts.
pub const SIMULATOR: &str = "simulator";

/// Where the simulator is among a deployment's channels.
const SIMULATOR_AT: usize = 0;

/// The channels a deployment runs, by the names settings and contracts give
/// them, and where a merchant's refunds go.
pub struct Channels {
    /// The simulator first.
    named: Vec<(&'static str, Box<dyn RefundChannel>)>,
    /// Where refunds of a merchant outside the sandbox go when its contract names no channel.
    default: usize,
}

impl Channels {
    /// Every refund to the simulator: sandbox deployments and admin commands.
    pub fn simulator() -> Self {
        let simulator: Box<dyn RefundChannel> = Box::new(Simulator);
        Self {
            named: vec![(SIMULATOR, simulator)],
            default: SIMULATOR_AT,
        }
    }

    /// The channels of a `deployment` whose merchants' refunds go to
    /// `default` unless their contract says otherwise (sandbox merchants'
    /// to the simulator). A production deployment must name it.
    pub fn for_deployment(deployment: Deployment, default: Option<&str>) -> Result<Self, String> {
        let mut channels = Self::simulator();
        channels.default = match (deployment, default) {
            (Deployment::Sandbox, None) => SIMULATOR_AT,
            (Deployment::Production, None) => {
                return Err(format!(
                    "a production deployment must name its refund channel (one of: {})",
                    channels.names()
                ))
            }
            (_, Some(name)) => channels.index(name)?,
        };
        Ok(channels)
    }

    /// Refuses a name no channel has, for contracts before they are stored.
    pub fn check(&self, name: &str) -> Result<(), String> {
        self.index(name).map(drop)
    }

    fn index(&self, name: &str) -> Result<usize, String> {
        self.named
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("unknown refund channel {name:?} (one of: {})", self.names()))
    }

    fn names(&self) -> String {
        let names: Vec<&str> = self.named.iter().map(|(n, _)| *n).collect();
        names.join(", ")
    }

    /// The channel `merchant`'s refunds go to: its contract's, the simulator
    /// for a sandbox merchant, else the deployment's.
    pub fn of(&self, merchant: &Merchant) -> Result<&dyn RefundChannel> {
        let index = match &merchant.contract.refund_channel {
            Some(name) => self
                .index(name)
                .map_err(|e| EngineError::Store(StoreError::Corrupt(e)))?,
            None if merchant.client_id.is_sandbox() => SIMULATOR_AT,
            None => self.default,
        };
        Ok(self.named[index].1.as_ref())
    }
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

    /// A second channel, to tell where a refund was sent.
    struct Refuser;

    impl RefundChannel for Refuser {
        fn submit(&self, _: &Payment, _: &MethodCapabilities) -> ChannelAnswer {
            ChannelAnswer {
                outcome: ChannelOutcome::Now(Settle::Fail {
                    reason: ResultCode::ProcessFail,
                }),
                acquirer: None,
            }
        }
    }

    fn merchant(id: &str, channel: Option<&str>) -> Merchant {
        Merchant {
            client_id: backflow_domain::ClientId::parse(id).expect("id"),
            name: id.into(),
            settlement_currency: None,
            notify_url: None,
            legacy_partner_id: "2088000000000001".into(),
            legacy_md5_key: "k".repeat(32),
            contract: backflow_domain::merchant::Contract {
                refund_channel: channel.map(str::to_owned),
                ..Default::default()
            },
        }
    }

    fn settles(channels: &Channels, m: &Merchant) -> bool {
        let payment = payment();
        let caps = backflow_domain::method::default_capabilities("GCASH", None);
        channels
            .of(m)
            .expect("channel")
            .submit(&payment, &caps)
            .outcome
            == ChannelOutcome::Now(Settle::Success)
    }

    fn payment() -> Payment {
        use backflow_domain::payment::{Door, PaymentStatus, ProductCode};
        use backflow_domain::{Currency, Money, PaymentId, PaymentRequestId, Timestamp};
        let usd = Currency::parse("USD").expect("USD");
        Payment {
            id: PaymentId::parse("p1").expect("id"),
            merchant: backflow_domain::ClientId::parse("M").expect("id"),
            door: Door::Ams,
            request_id: PaymentRequestId::parse("r1").expect("id"),
            amount: Money::new(usd, 100),
            method_type: "GCASH".into(),
            product_code: ProductCode::Agreement,
            status: PaymentStatus::Success,
            is_authorization: false,
            captured_minor: 0,
            capture_closed: false,
            settlement_currency: usd,
            settled_minor: 100,
            commission_minor: 0,
            acquirer: None,
            chargeback_pending: false,
            notify_url: None,
            created_at: Timestamp(0),
            paid_at: Some(Timestamp(0)),
        }
    }

    #[test]
    fn a_production_deployment_names_its_channel() {
        let refused = Channels::for_deployment(Deployment::Production, None).err();
        assert!(refused.is_some_and(|e| e.contains("must name its refund channel")));
        assert!(Channels::for_deployment(Deployment::Production, Some("SIMULATOR")).is_ok());
        assert!(Channels::for_deployment(Deployment::Sandbox, Some("wire")).is_err());
        assert!(Channels::simulator().check("wire").is_err());
    }

    /// Sandbox merchants go to the simulator, others to the deployment's
    /// channel, unless their contract names one.
    #[test]
    fn merchants_go_to_the_channel_chosen_for_them() {
        let mut channels = Channels::simulator();
        let refuser: Box<dyn RefundChannel> = Box::new(Refuser);
        channels.named.push(("refuser", refuser));
        channels.default = 1;
        assert!(settles(&channels, &merchant("SANDBOX_M", None)));
        assert!(!settles(&channels, &merchant("LIVE", None)));
        assert!(settles(&channels, &merchant("LIVE", Some(SIMULATOR))));
        assert!(!settles(&channels, &merchant("SANDBOX_M", Some("refuser"))));
        assert!(channels.of(&merchant("LIVE", Some("gone"))).is_err());
    }
}
