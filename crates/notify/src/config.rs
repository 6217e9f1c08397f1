//! How the notifier runs: timeouts, claims, concurrency bounds.

use crate::NotifyError;
use std::time::Duration;

/// The notifier's settings. `Default` is production; `from_env` applies the
/// `BACKFLOW_NOTIFY_*` overrides.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// The whole POST, from connecting to the end of the answer.
    pub post_timeout: Duration,
    /// How long a claimed row stays this node's; must outlast `post_timeout`,
    /// or another node could send the same attempt while this one still waits.
    pub claim_ttl: Duration,
    /// How often the background loop looks for due rows; `None` runs no loop
    /// (tests step the notifier with `dispatch_due`).
    pub poll_interval: Option<Duration>,
    /// Deliveries in flight on this node.
    pub max_in_flight: usize,
    /// Deliveries in flight on this node for one merchant, so a slow merchant cannot starve the others.
    pub max_in_flight_per_merchant: usize,
    /// How much of an answer is read; the rest is never downloaded.
    pub response_limit_bytes: usize,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            post_timeout: Duration::from_secs(10),
            claim_ttl: Duration::from_secs(60),
            poll_interval: Some(Duration::from_millis(500)),
            max_in_flight: 64,
            max_in_flight_per_merchant: 4,
            response_limit_bytes: 64 * 1024,
        }
    }
}

impl NotifierConfig {
    /// The defaults with the environment's overrides.
    pub fn from_env() -> Result<Self, NotifyError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The defaults with overrides read through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, NotifyError> {
        let number = |name: &str| -> Result<Option<u64>, NotifyError> {
            var(name)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            NotifyError::Config(format!(
                                "{name} must be a positive integer, not {v:?}"
                            ))
                        })
                })
                .transpose()
        };
        let d = Self::default();
        let config = Self {
            post_timeout: number("BACKFLOW_NOTIFY_TIMEOUT_SECS")?
                .map_or(d.post_timeout, Duration::from_secs),
            claim_ttl: number("BACKFLOW_NOTIFY_CLAIM_SECS")?
                .map_or(d.claim_ttl, Duration::from_secs),
            poll_interval: d.poll_interval,
            max_in_flight: number("BACKFLOW_NOTIFY_CONCURRENCY")?
                .map_or(Ok(d.max_in_flight), usize::try_from)
                .map_err(|e| NotifyError::Config(e.to_string()))?,
            max_in_flight_per_merchant: number("BACKFLOW_NOTIFY_PER_MERCHANT")?
                .map_or(Ok(d.max_in_flight_per_merchant), usize::try_from)
                .map_err(|e| NotifyError::Config(e.to_string()))?,
            response_limit_bytes: d.response_limit_bytes,
        };
        config.validate()?;
        Ok(config)
    }

    /// Refuses settings that would break the delivery guarantees.
    pub fn validate(&self) -> Result<(), NotifyError> {
        if self.claim_ttl <= self.post_timeout {
            return Err(NotifyError::Config(format!(
                "the claim ({:?}) must outlast the POST timeout ({:?})",
                self.claim_ttl, self.post_timeout
            )));
        }
        if self.max_in_flight == 0 || self.max_in_flight_per_merchant == 0 {
            return Err(NotifyError::Config(
                "concurrency bounds must be positive".into(),
            ));
        }
        if self.response_limit_bytes < crate::deliver::EXCERPT_BYTES {
            return Err(NotifyError::Config(format!(
                "the response limit must keep at least the {}-byte excerpt",
                crate::deliver::EXCERPT_BYTES
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_and_validation() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let c = NotifierConfig::from_vars(vars(&[
            ("BACKFLOW_NOTIFY_CLAIM_SECS", "3"),
            ("BACKFLOW_NOTIFY_TIMEOUT_SECS", "2"),
        ]))
        .unwrap();
        assert_eq!(c.claim_ttl, Duration::from_secs(3));
        assert_eq!(c.post_timeout, Duration::from_secs(2));
        assert!(NotifierConfig::from_vars(vars(&[("BACKFLOW_NOTIFY_CLAIM_SECS", "5")])).is_err());
        assert!(NotifierConfig::from_vars(vars(&[("BACKFLOW_NOTIFY_TIMEOUT_SECS", "x")])).is_err());
        assert_eq!(
            NotifierConfig::from_vars(vars(&[])).unwrap().claim_ttl,
            Duration::from_secs(60)
        );
    }
}
