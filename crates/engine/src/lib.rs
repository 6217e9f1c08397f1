//! The engine: Backflow's use cases.
//!
//! Each use case is one database transaction that reads what it needs under
//! lock, asks the domain's rules, and writes the state change together with
//! its ledger postings and the notifications it owes. Doors call these and nothing else.

pub mod channels;
pub mod clock;
mod error;
mod fx;
pub mod ids;
pub mod keys;
mod ledger;
mod limits;
mod merchants;
pub mod notices;
mod payments;
mod refunds;
pub mod reports;
pub mod sandbox;
mod scheduler;
mod settlement;

pub use error::{EngineError, Result};
pub use merchants::{CreatedMerchant, MerchantSpec};
pub use payments::{CaptureCommand, PayCommand, PaymentDetails};
pub use refunds::{RefundCommand, RefundMode};

use backflow_domain::merchant::Contract;
use backflow_domain::method::{default_capabilities, MethodCapabilities, MethodOverride};
use backflow_domain::payment::Payment;
use backflow_domain::{Clock, Timestamp};
use backflow_store::Store;
use channels::RefundChannel;
use keys::KeyRing;
use std::sync::Arc;

/// Deployment-wide settings.
#[derive(Debug, Clone)]
pub struct EngineSettings {
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
    channel: Box<dyn RefundChannel>,
    keys: KeyRing,
    settings: EngineSettings,
    limits: limits::RefundLimits,
    /// Names this node's claims on jobs.
    node_id: String,
}

impl Engine {
    pub fn new(store: Store, clock: Arc<dyn Clock>, channel: Box<dyn RefundChannel>) -> Self {
        Self::with_settings(store, clock, channel, EngineSettings::default())
    }

    pub fn with_settings(
        store: Store,
        clock: Arc<dyn Clock>,
        channel: Box<dyn RefundChannel>,
        settings: EngineSettings,
    ) -> Self {
        let keys = KeyRing::new(store.clone());
        let node_id = format!("node-{}", ids::random_token(12));
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                channel,
                keys,
                settings,
                limits: limits::RefundLimits::default(),
                node_id,
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn keys(&self) -> &KeyRing {
        &self.inner.keys
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
