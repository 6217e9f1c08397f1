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
use backflow_domain::{ClientId, ResultCode};
use backflow_store::Tx;

/// What naming a code in a script makes of a refund; `None` for codes off the refund path.
fn scripted(code: ResultCode) -> Option<Scripted> {
    use ResultCode as R;
    Some(match code {
        R::Success => Scripted::Success,
        R::RefundInProcess => Scripted::Pending,
        R::UnknownException => Scripted::TimedOut,
        // After the channel took the refund: the refund is stored as failed.
        R::ProcessFail | R::OrderIsClosed | R::RiskReject => Scripted::ChannelFailure,
        R::RequestTrafficExceedLimit
        | R::OrderStatusInvalid
        | R::RefundWindowExceed
        | R::PaymentMethodNotSupported
        | R::PartialRefundNotSupported
        | R::MultipleRefundsNotSupported
        | R::MerchantBalanceNotEnough
        | R::CurrencyNotSupport
        | R::RefundAmountExceed
        | R::RepeatReqInconsistent
        | R::ParamIllegal
        | R::AccessDenied
        | R::OrderNotExist
        | R::InvalidMerchantStatus => Scripted::Refusal,
        R::PaymentInProcess
        | R::InvalidClient
        | R::InvalidSignature
        | R::KeyNotFound
        | R::NoInterfaceDef
        | R::RefundNotExist
        | R::CaptureAmountExceed => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scripted {
    Success,
    Pending,
    TimedOut,
    ChannelFailure,
    /// Refused before any refund exists.
    Refusal,
}

/// What a script does to one refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injection {
    /// Refused before any refund exists, with this code.
    Refuse(ResultCode),
    /// The channel answers this instead of what it would.
    Channel(ChannelOutcome),
}

fn known(code: &str) -> Result<(ResultCode, Scripted)> {
    ResultCode::parse(code)
        .and_then(|c| Some((c, scripted(c)?)))
        .ok_or_else(|| {
            EngineError::Invalid(format!(
                "{code:?} is not a refund result code a sandbox can inject"
            ))
        })
}

fn settle((code, kind): (ResultCode, Scripted), reverse_after_ms: Option<i64>) -> Result<Settle> {
    match (kind, reverse_after_ms) {
        (Scripted::Success, None) => Ok(Settle::Success),
        (Scripted::Success, Some(after_ms)) => Ok(Settle::SuccessThenReverse { after_ms }),
        (Scripted::ChannelFailure, None) => Ok(Settle::Fail { reason: code }),
        _ => Err(EngineError::Invalid(format!(
            "{code} cannot end a refund the channel accepted"
        ))),
    }
}

/// Parses a script.
pub fn parse(script: &str) -> Result<Injection> {
    let mut parts = script.trim().split(';').map(str::trim);
    let named = known(parts.next().unwrap_or_default())?;
    let success = (ResultCode::Success, Scripted::Success);
    let (mut delay_ms, mut then, mut reverse_after_ms) = (SIMULATED_ASYNC_MS, success, None);
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
    Ok(match named {
        (_, Scripted::Success | Scripted::ChannelFailure) => {
            Injection::Channel(ChannelOutcome::Now(settle(named, reverse_after_ms)?))
        }
        (_, Scripted::Pending) => Injection::Channel(ChannelOutcome::Pending {
            after_ms: delay_ms,
            then: settle(then, reverse_after_ms)?,
        }),
        (_, Scripted::TimedOut) => Injection::Channel(ChannelOutcome::TimedOut {
            after_ms: delay_ms,
            then: settle(then, reverse_after_ms)?,
        }),
        (code, Scripted::Refusal) => Injection::Refuse(code),
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
            Injection::Refuse(ResultCode::RefundWindowExceed)
        );
        assert_eq!(
            parse("REQUEST_TRAFFIC_EXCEED_LIMIT").unwrap(),
            Injection::Refuse(ResultCode::RequestTrafficExceedLimit)
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
                    reason: ResultCode::ProcessFail
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
                reason: ResultCode::OrderIsClosed
            }))
        );
        for bad in [
            "",
            "NOPE",
            "SUCCESS;delay=x",
            "SUCCESS;colour=1",
            "REFUND_IN_PROCESS;then=REFUND_WINDOW_EXCEED",
            "PROCESS_FAIL;reverse_after=1",
            // Result codes off the refund path.
            "INVALID_CLIENT",
            "SUCCESS;then=REFUND_NOT_EXIST",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
