//! Per-merchant refund rate limits (`REQUEST_TRAFFIC_EXCEED_LIMIT`).
//!
//! Limits are per node: nodes are stateless, so a deployment of N nodes admits
//! up to N times the rate. That bounds abuse without a shared counter on the hot path.

use crate::error::{EngineError, Result};
use crate::Engine;
use backflow_domain::merchant::Merchant;
use backflow_domain::ClientId;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct RefundLimits {
    limiters: Mutex<HashMap<ClientId, (u32, Arc<DefaultDirectRateLimiter>)>>,
}

impl RefundLimits {
    fn limiter(&self, merchant: &ClientId, per_second: u32) -> Arc<DefaultDirectRateLimiter> {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let mut map = self
            .limiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match map.get(merchant) {
            // A contract change takes effect with a fresh bucket.
            Some((r, l)) if *r == per_second => l.clone(),
            _ => {
                let limiter = Arc::new(RateLimiter::direct(Quota::per_second(rate)));
                map.insert(merchant.clone(), (per_second, limiter.clone()));
                limiter
            }
        }
    }
}

impl Engine {
    /// Admits one refund request from `merchant`, or refuses it as over its rate.
    pub(crate) fn admit_refund(&self, merchant: &Merchant) -> Result<()> {
        let per_second = merchant
            .contract
            .rate_limit_per_second
            .unwrap_or(self.inner.settings.refund_rate_per_second);
        if self
            .inner
            .limits
            .limiter(&merchant.client_id, per_second)
            .check()
            .is_ok()
        {
            Ok(())
        } else {
            metrics::counter!("backflow_rate_limited_total").increment(1);
            Err(EngineError::TrafficLimited)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_bucket_admits_its_burst_then_refuses() {
        let limits = RefundLimits::default();
        let m = ClientId::parse("M").unwrap();
        assert!(limits.limiter(&m, 1000).check().is_ok());
        let one = limits.limiter(&m, 1);
        assert!(one.check().is_ok());
        assert!(limits.limiter(&m, 1).check().is_err());
    }
}
