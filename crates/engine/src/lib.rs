//! The engine: Backflow's use cases.
//!
//! Each use case is one database transaction that reads what it needs under
//! lock, asks the domain's rules, and writes the state change together with
//! its ledger postings and the notifications it owes.
//!
//! Doors (the AMS and legacy gateways, the admin API, the CLI) and the
//! notifier call the engine's methods and nothing else: the store is the
//! engine's own, and only tests reach it, through [`Engine::store_for_tests`].

pub mod channels;
pub mod clock;
mod error;
mod fx;
mod gauges;
pub mod ids;
pub mod keys;
mod ledger;
mod limits;
mod merchants;
pub mod notices;
mod outbox;
mod payments;
pub mod portal;
mod queries;
mod refunds;
pub mod reports;
pub mod sandbox;
mod scheduler;
pub mod seed;
mod settlement;

pub use error::{EngineError, Result};
pub use merchants::{CreatedMerchant, MerchantSpec};
pub use payments::{CaptureCommand, PayCommand, PaymentDetails};
pub use refunds::{RefundCommand, RefundMode};
pub use scheduler::{job_backoff_ms, MAX_JOB_FAILURES};

use backflow_domain::merchant::Contract;
use backflow_domain::method::{default_capabilities, MethodCapabilities, MethodOverride};
use backflow_domain::payment::Payment;
use backflow_domain::{Clock, Timestamp};
use backflow_store::Store;
use channels::Channels;
use keys::KeyRing;
use std::sync::Arc;

/// What a deployment is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Deployment {
    /// Trying Backflow out: demo exchange rates are seeded, refunds go to the simulator.
    #[default]
    Sandbox,
    /// Real money: rates only as imported, refunds only to channels named in the settings.
    Production,
}

impl std::str::FromStr for Deployment {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "sandbox" => Ok(Self::Sandbox),
            "production" => Ok(Self::Production),
            _ => Err(format!(
                "unknown deployment {s:?}: use sandbox or production"
            )),
        }
    }
}

/// Deployment-wide settings.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub deployment: Deployment,
    /// Where refunds of merchants outside the sandbox go unless their
    /// contract names a channel (see [`channels::Channels::for_deployment`]).
    pub refund_channel: Option<String>,
    /// Changes to the documented method capabilities, applied before merchants' own.
    pub method_overrides: Vec<(String, MethodOverride)>,
    /// Refund requests per second and merchant when its contract sets none.
    pub refund_rate_per_second: u32,
    /// What the scheduler does when a day ends; `None` closes no days.
    pub day_close: Option<reports::DayClose>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            deployment: Deployment::default(),
            refund_channel: None,
            method_overrides: Vec::new(),
            refund_rate_per_second: 1000,
            day_close: None,
        }
    }
}

/// The use cases and what they need: storage, time, channels and keys.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    channels: Channels,
    keys: KeyRing,
    settings: EngineSettings,
    limits: limits::RefundLimits,
    /// Names this node's claims on jobs.
    node_id: String,
}

impl Engine {
    pub fn new(store: Store, clock: Arc<dyn Clock>, channels: Channels) -> Self {
        Self::with_settings(store, clock, channels, EngineSettings::default())
    }

    pub fn with_settings(
        store: Store,
        clock: Arc<dyn Clock>,
        channels: Channels,
        settings: EngineSettings,
    ) -> Self {
        let keys = KeyRing::new(store.clone());
        let node_id = format!("node-{}", ids::random_token(12));
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                channels,
                keys,
                settings,
                limits: limits::RefundLimits::default(),
                node_id,
            }),
        }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The store, for tests that set up or inspect what no use case exposes.
    #[doc(hidden)]
    pub fn store_for_tests(&self) -> &Store {
        &self.inner.store
    }

    pub fn keys(&self) -> &KeyRing {
        &self.inner.keys
    }

    pub fn deployment(&self) -> Deployment {
        self.inner.settings.deployment
    }

    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// What a payment's method allows, after the deployment's and the merchant's changes.
    pub fn capabilities(&self, payment: &Payment, contract: &Contract) -> MethodCapabilities {
        let method = payment.method_type.as_str();
        let overrides = self
            .inner
            .settings
            .method_overrides
            .iter()
            .chain(&contract.method_overrides);
        let mut caps = overrides.filter(|(m, _)| m == method).fold(
            default_capabilities(method, payment.acquirer.as_deref()),
            |caps, (_, o)| caps.with(o),
        );
        if let Some(days) = contract.refund_window_days {
            caps.window_days = days;
        }
        caps
    }
}
