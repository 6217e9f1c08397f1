//! Refunds: the heart of Backflow.

use crate::channels::ChannelOutcome;
use crate::error::{EngineError, Result};
use crate::ids::{new_id, IdKind};
use crate::Engine;
use backflow_domain::ledger;
use backflow_domain::method::default_capabilities;
use backflow_domain::payment::Door;
use backflow_domain::refund::{check_repeat, Refund, RefundContext, RefundRefused, RefundStatus};
use backflow_domain::{ClientId, Money, PaymentId, RefundId, RefundRequestId};
use backflow_store::{PaymentKey, RefundKey, StoreError};

/// A `refund` request, parsed.
#[derive(Debug, Clone)]
pub struct RefundCommand {
    pub merchant: ClientId,
    pub request_id: RefundRequestId,
    pub payment_id: PaymentId,
    pub amount: Money,
    pub reason: Option<String>,
    pub notify_url: Option<String>,
    pub mode: RefundMode,
}

/// How the caller wants the refund answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundMode {
    /// The AMS door: the channel decides sync or async.
    Ams,
    /// Legacy `is_sync=Y`: the answer is final; no retry, no notification.
    LegacySync,
    /// Legacy `is_sync=N`: accepted now, finished later and notified; a short
    /// merchant balance waits and is retried every 6 hours for 180 days.
    LegacyAsync,
}

impl RefundMode {
    pub fn door(self) -> Door {
        match self {
            Self::Ams => Door::Ams,
            Self::LegacySync | Self::LegacyAsync => Door::Legacy,
        }
    }
}

impl Engine {
    /// Creates a refund, or answers with the one this request id already made.
    pub async fn refund(&self, cmd: RefundCommand) -> Result<Refund> {
        match self.try_refund(&cmd).await {
            // The same request id raced in on another payment; the loser answers as a repeat.
            Err(EngineError::Store(StoreError::Duplicate)) => self.try_refund(&cmd).await,
            other => other,
        }
    }

    async fn try_refund(&self, cmd: &RefundCommand) -> Result<Refund> {
        let mut tx = self.store().begin().await?;
        // Lock first: a repeat of a request that is still being written waits for it.
        let payment = tx
            .lock_payment(&cmd.merchant, PaymentKey::Id(&cmd.payment_id))
            .await?;
        if let Some(existing) = tx
            .refund(&cmd.merchant, RefundKey::RequestId(&cmd.request_id))
            .await?
        {
            check_repeat(&existing, &cmd.payment_id, cmd.amount)?;
            return Ok(existing);
        }
        // A payment is refunded through the door it was made through.
        let payment = payment
            .filter(|p| p.door == cmd.mode.door())
            .ok_or(EngineError::PaymentNotFound)?;
        let totals = tx.refund_totals(&payment.id).await?;
        let caps = default_capabilities(&payment.method_type, payment.acquirer.as_deref());
        let now = self.now();
        RefundContext {
            payment: &payment,
            caps: &caps,
            outstanding_minor: totals.outstanding_minor,
            prior_refunds: totals.count,
            now,
        }
        .check(cmd.amount)?;

        let mut refund = Refund {
            id: RefundId::parse(new_id(IdKind::Refund, now))
                .map_err(|e| EngineError::Invalid(e.to_string()))?,
            merchant: cmd.merchant.clone(),
            request_id: cmd.request_id.clone(),
            payment_id: payment.id.clone(),
            amount: cmd.amount,
            status: RefundStatus::Processing,
            reason: cmd.reason.clone(),
            notify_url: cmd.notify_url.clone(),
            result_code: None,
            notify_on_final: false,
            created_at: now,
            finished_at: None,
        };
        let posting = match self.inner.channel.submit(&payment, &refund) {
            ChannelOutcome::Succeeded => {
                refund.status = RefundStatus::Success;
                refund.finished_at = Some(now);
                Some(ledger::refund_paid(
                    &refund.merchant,
                    refund.id.as_str(),
                    refund.amount,
                ))
            }
            ChannelOutcome::Failed { reason } => {
                refund.status = RefundStatus::Fail;
                refund.result_code = Some(reason);
                refund.finished_at = Some(now);
                None
            }
            ChannelOutcome::Pending => Some(ledger::refund_reserved(
                &refund.merchant,
                refund.id.as_str(),
                refund.amount,
            )),
        };
        if let Some(posting) = posting {
            tx.post(&posting, &new_id(IdKind::Posting, now), now)
                .await
                .map_err(|e| match e {
                    StoreError::BelowFloor { .. } => {
                        EngineError::RefundRefused(RefundRefused::BalanceNotEnough)
                    }
                    e => e.into(),
                })?;
        }
        tx.insert_refund(&refund).await?;
        tx.commit().await?;
        Ok(refund)
    }

    pub async fn inquire_refund(&self, merchant: &ClientId, key: RefundKey<'_>) -> Result<Refund> {
        self.store()
            .refund(merchant, key)
            .await?
            .ok_or(EngineError::RefundNotFound)
    }
}
