//! Sandbox error injection: a sandbox merchant scripts what its next refunds
//! meet, so every refund-path result can be reproduced without touching the database.
//!
//! A script is `CODE[;delay=SECONDS][;then=CODE][;reverse_after=SECONDS]`, e.g.
//! `REFUND_WINDOW_EXCEED`, `UNKNOWN_EXCEPTION;delay=30`, `REFUND_IN_PROCESS;then=PROCESS_FAIL`,
//! `SUCCESS;reverse_after=3600`. It is queued with `backflow sandbox script`
//! (or the admin endpoint), or given inline as a refund reason `sandbox:<script>`.

use crate::channels::{ChannelOutcome, Settle, SIMULATED_ASYNC_MS};
use crate::error::{EngineError, Result};
use crate::ids::{new_id, IdKind};
use crate::Engine;
use backflow_domain::ClientId;
use backflow_store::Tx;

/// Refund-path codes a script may name.
pub const KNOWN_CODES: &[&str] = &[
    "SUCCESS",
    "REFUND_IN_PROCESS",
    "UNKNOWN_EXCEPTION",
    "REQUEST_TRAFFIC_EXCEED_LIMIT",
    "ORDER_STATUS_INVALID",
    "REFUND_WINDOW_EXCEED",
    "PAYMENT_METHOD_NOT_SUPPORTED",
    "PARTIAL_REFUND_NOT_SUPPORTED",
    "MULTIPLE_REFUNDS_NOT_SUPPORTED",
    "MERCHANT_BALANCE_NOT_ENOUGH",
    "CURRENCY_NOT_SUPPORT",
    "REFUND_AMOUNT_EXCEED",
    "ORDER_IS_CLOSED",
    "REPEAT_REQ_INCONSISTENT",
    "PARAM_ILLEGAL",
    "PROCESS_FAIL",
    "ACCESS_DENIED",
    "ORDER_NOT_EXIST",
    "INVALID_MERCHANT_STATUS",
    "RISK_REJECT",
];

/// Codes that come from the channel after it took the refund: the refund is stored as failed.
const CHANNEL_FAILURES: &[&str] = &["PROCESS_FAIL", "ORDER_IS_CLOSED", "RISK_REJECT"];

/// What a script does to one refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injection {
    /// Refused before any refund exists, with this code.
    Refuse(&'static str),
    /// The channel answers this instead of what it would.
    Channel(ChannelOutcome),
}

fn known(code: &str) -> Result<&'static str> {
    KNOWN_CODES
        .iter()
        .find(|c| **c == code)
        .copied()
        .ok_or_else(|| {
            EngineError::Invalid(format!(
                "{code:?} is not a refund result code a sandbox can inject"
            ))
        })
}

fn settle(code: &'static str, reverse_after_ms: Option<i64>) -> Result<Settle> {
    match (code, reverse_after_ms) {
        ("SUCCESS", None) => Ok(Settle::Success),
        ("SUCCESS", Some(after_ms)) => Ok(Settle::SuccessThenReverse { after_ms }),
        (c, None) if CHANNEL_FAILURES.contains(&c) => Ok(Settle::Fail {
            reason: c.to_owned(),
        }),
        (c, _) => Err(EngineError::Invalid(format!(
            "{c} cannot end a refund the channel accepted"
        ))),
    }
}

/// Parses a script.
pub fn parse(script: &str) -> Result<Injection> {
    let mut parts = script.trim().split(';').map(str::trim);
    let code = known(parts.next().unwrap_or_default())?;
    let (mut delay_ms, mut then, mut reverse_after_ms) = (SIMULATED_ASYNC_MS, "SUCCESS", None);
    for part in parts.filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| EngineError::Invalid(format!("{part:?}: expected key=value")))?;
        let seconds = || {
            value
                .parse::<i64>()
                .ok()
                .filter(|s| (0..=366 * 86_400).contains(s))
                .map(|s| s * 1000)
                .ok_or_else(|| {
                    EngineError::Invalid(format!("{key}: {value:?} is not a number of seconds"))
                })
        };
        match key {
            "delay" => delay_ms = seconds()?,
            "reverse_after" => reverse_after_ms = Some(seconds()?),
            "then" => then = known(value)?,
            other => {
                return Err(EngineError::Invalid(format!(
                    "unknown script setting {other:?}"
                )))
            }
        }
    }
    Ok(match code {
        "SUCCESS" => Injection::Channel(ChannelOutcome::Now(settle("SUCCESS", reverse_after_ms)?)),
        "REFUND_IN_PROCESS" => Injection::Channel(ChannelOutcome::Pending {
            after_ms: delay_ms,
            then: settle(then, reverse_after_ms)?,
        }),
        "UNKNOWN_EXCEPTION" => Injection::Channel(ChannelOutcome::TimedOut {
            after_ms: delay_ms,
            then: settle(then, reverse_after_ms)?,
        }),
        c if CHANNEL_FAILURES.contains(&c) => {
            Injection::Channel(ChannelOutcome::Now(settle(c, reverse_after_ms)?))
        }
        c => Injection::Refuse(c),
    })
}

/// The prefix of a refund reason that carries a script inline.
pub const REASON_PREFIX: &str = "sandbox:";

/// The injection for a sandbox merchant's refund: an inline script in the
/// reason wins, else the oldest queued script is used up.
pub async fn next(
    tx: &mut Tx,
    merchant: &ClientId,
    reason: Option<&str>,
) -> Result<Option<Injection>> {
    if let Some(script) = reason.and_then(|r| r.strip_prefix(REASON_PREFIX)) {
        return parse(script).map(Some);
    }
    match tx.take_sandbox_script(merchant).await? {
        Some(script) => parse(&script).map(Some),
        None => Ok(None),
    }
}

impl Engine {
    /// Queues a script for a sandbox merchant's next refund.
    pub async fn script_sandbox_refund(&self, merchant: &ClientId, script: &str) -> Result<()> {
        if !merchant.is_sandbox() {
            return Err(EngineError::Invalid(
                "only sandbox merchants (SANDBOX_…) can script outcomes".into(),
            ));
        }
        self.store()
            .merchant(merchant)
            .await?
            .ok_or(EngineError::UnknownMerchant)?;
        parse(script)?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        tx.push_sandbox_script(&new_id(IdKind::Posting, now), merchant, script.trim(), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_parse_into_injections() {
        assert_eq!(
            parse("REFUND_WINDOW_EXCEED").unwrap(),
            Injection::Refuse("REFUND_WINDOW_EXCEED")
        );
        assert_eq!(
            parse("UNKNOWN_EXCEPTION;delay=30").unwrap(),
            Injection::Channel(ChannelOutcome::TimedOut {
                after_ms: 30_000,
                then: Settle::Success
            })
        );
        assert_eq!(
            parse("REFUND_IN_PROCESS; then=PROCESS_FAIL").unwrap(),
            Injection::Channel(ChannelOutcome::Pending {
                after_ms: SIMULATED_ASYNC_MS,
                then: Settle::Fail {
                    reason: "PROCESS_FAIL".into()
                }
            })
        );
        assert_eq!(
            parse("SUCCESS;reverse_after=60").unwrap(),
            Injection::Channel(ChannelOutcome::Now(Settle::SuccessThenReverse {
                after_ms: 60_000
            }))
        );
        assert_eq!(
            parse("ORDER_IS_CLOSED").unwrap(),
            Injection::Channel(ChannelOutcome::Now(Settle::Fail {
                reason: "ORDER_IS_CLOSED".into()
            }))
        );
        for bad in [
            "",
            "NOPE",
            "SUCCESS;delay=x",
            "SUCCESS;colour=1",
            "REFUND_IN_PROCESS;then=REFUND_WINDOW_EXCEED",
            "PROCESS_FAIL;reverse_after=1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
