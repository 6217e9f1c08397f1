//! How the notifier runs: timeouts, claims, concurrency bounds.

use crate::NotifyError;
use std::time::Duration;

/// The notifier's settings. `Default` is production; `backflow serve` takes
/// its flags (`--notify-*`, or `BACKFLOW_NOTIFY_*`) over it.
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
    fn settings_that_break_delivery_are_refused() {
        assert!(NotifierConfig::default().validate().is_ok());
        let claim_too_short = NotifierConfig {
            claim_ttl: Duration::from_secs(5),
            post_timeout: Duration::from_secs(5),
            ..NotifierConfig::default()
        };
        assert!(claim_too_short.validate().is_err());
        let none_in_flight = NotifierConfig {
            max_in_flight_per_merchant: 0,
            ..NotifierConfig::default()
        };
        assert!(none_in_flight.validate().is_err());
    }
}
