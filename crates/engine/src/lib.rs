//! The engine: Backflow's use cases.
//!
//! Each use case is one database transaction that reads what it needs under
//! lock, asks the domain's rules, and writes the state change together with
//! its ledger postings. Doors call these and nothing else.

pub mod channels;
pub mod clock;
mod error;
pub mod ids;
pub mod keys;
mod merchants;
mod payments;
mod refunds;

pub use error::{EngineError, Result};
pub use merchants::{CreatedMerchant, MerchantSpec};
pub use payments::{CaptureCommand, PayCommand, PaymentDetails};
pub use refunds::{RefundCommand, RefundMode};

use backflow_domain::Clock;
use backflow_store::Store;
use channels::RefundChannel;
use keys::KeyRing;
use std::sync::Arc;

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
}

impl Engine {
    pub fn new(store: Store, clock: Arc<dyn Clock>, channel: Box<dyn RefundChannel>) -> Self {
        let keys = KeyRing::new(store.clone());
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                channel,
                keys,
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

    fn now(&self) -> backflow_domain::Timestamp {
        self.inner.clock.now()
    }
}
