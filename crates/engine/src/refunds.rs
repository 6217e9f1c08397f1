//! Refunds: the heart of Backflow.
//!
//! A refund is accepted under the payment's lock, holds the merchant's
//! settlement funds, and is handed to its channel. It then succeeds, fails,
//! or stays processing until a scheduled job finishes it. Every step writes
//! its ledger posting and any notification it owes in the same transaction.

use crate::channels::{ChannelAnswer, ChannelOutcome, Settle};
use crate::error::{EngineError, Result};
use crate::ids::{new_id, IdKind};
use crate::{notices, sandbox, Engine};
use backflow_domain::ledger;
use backflow_domain::merchant::Merchant;
use backflow_domain::payment::{Door, Payment};
use backflow_domain::refund::{check_repeat, Refund, RefundContext, RefundRefused, RefundStatus};
use backflow_domain::{ClientId, Money, PaymentId, RefundId, RefundRequestId, Timestamp};
use backflow_store::{Floors, PaymentKey, RefundKey, RefundTotals, StoreError, Tx, Writes};
use std::sync::Arc;

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

/// Job kinds the refund lifecycle schedules.
pub(crate) const COMPLETE_REFUND: &str = "COMPLETE_REFUND";
pub(crate) const RETRY_FUNDS: &str = "RETRY_FUNDS";
pub(crate) const REVERSE_REFUND: &str = "REVERSE_REFUND";

/// How often a refund waiting for funds is retried, and for how long.
pub const FUNDS_RETRY_MS: i64 = 6 * 3_600_000;
pub const FUNDS_RETRY_DAYS: i64 = 180;

/// Failure code of a refund whose merchant never had the funds.
const BALANCE_NOT_ENOUGH: &str = "MERCHANT_BALANCE_NOT_ENOUGH";

/// Whether a refund attempt still counts against the merchant's rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    Check,
    /// A second attempt at a request admitted once.
    Admitted,
}

/// What the step that accepted a refund hands on to the steps that carry it to its next state.
#[derive(Default)]
pub(crate) struct Carried {
    /// The payment's refund totals with this refund, when already read.
    totals: Option<RefundTotals>,
    /// Writes not sent yet: they go out in one batch with the refund's next state.
    writes: Writes,
}

impl Engine {
    /// Creates a refund, or answers with the one this request id already made.
    pub async fn refund(&self, cmd: RefundCommand) -> Result<Refund> {
        let cmd = Arc::new(cmd);
        match self.try_refund(cmd.clone(), Admission::Check).await {
            // The same request id raced in on another payment; the loser
            // answers as a repeat (admitted already).
            Err(EngineError::Store(StoreError::Duplicate)) => {
                self.try_refund(cmd, Admission::Admitted).await
            }
            other => other,
        }
    }

    /// One attempt at a refund, as one unit of work for the store's writer.
    async fn try_refund(&self, cmd: Arc<RefundCommand>, admission: Admission) -> Result<Refund> {
        let engine = self.clone();
        self.store()
            .transact(move |tx| async move { engine.refund_in(tx, &cmd, admission).await })
            .await
    }

    /// The refund's unit of work: all it awaits is its own statements (see `Store::transact`).
    async fn refund_in(
        &self,
        mut tx: Tx,
        cmd: &RefundCommand,
        admission: Admission,
    ) -> Result<Refund> {
        // Read in the transaction, before any lock: on SQLite the writer's
        // page cache holds the merchant, where a reader's is dropped every
        // time a group commits; on PostgreSQL it spares a second connection.
        let merchant = tx
            .merchant(&cmd.merchant)
            .await?
            .ok_or(EngineError::UnknownMerchant)?;
        if admission == Admission::Check && cmd.mode == RefundMode::Ams {
            self.admit_refund(&merchant)?;
        }
        // Lock first: a repeat of a request that is still being written waits for it.
        let payment = tx
            .lock_payment(&cmd.merchant, PaymentKey::Id(&cmd.payment_id))
            .await?;
        let (existing, totals) = tx
            .refund_request(&cmd.merchant, &cmd.request_id, &cmd.payment_id)
            .await?;
        if let Some(existing) = existing {
            check_repeat(&existing, &cmd.payment_id, cmd.amount)?;
            // The refund's group may not be on disk yet: the (empty) commit
            // answers once it is.
            tx.commit().await?;
            return Ok(existing);
        }
        // A payment is refunded through the door it was made through.
        let payment = payment
            .filter(|p| p.door == cmd.mode.door())
            .ok_or(EngineError::PaymentNotFound)?;
        let caps = self.capabilities(&payment, &merchant.contract);
        let now = self.now();
        RefundContext {
            payment: &payment,
            caps: &caps,
            outstanding_minor: totals.outstanding_minor,
            prior_refunds: totals.count,
            now,
        }
        .check(cmd.amount)?;

        let injection = match merchant.client_id.is_sandbox() {
            true => sandbox::next(&mut tx, &merchant.client_id, cmd.reason.as_deref()).await?,
            false => None,
        };
        let answer = match injection {
            Some(sandbox::Injection::Refuse(code)) => {
                // The refusal uses the script up; nothing else was written.
                tx.commit().await?;
                return Err(match code {
                    "REQUEST_TRAFFIC_EXCEED_LIMIT" => EngineError::TrafficLimited,
                    code => EngineError::Injected(code),
                });
            }
            Some(sandbox::Injection::Channel(outcome)) => ChannelAnswer {
                outcome,
                acquirer: crate::channels::Simulator::acquirer_ref(&payment),
            },
            None => self.inner.channel.submit(&payment, &caps),
        };

        let (held, quote) = self
            .settlement(&mut tx, cmd.amount, payment.settlement_currency, now)
            .await?;
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
            notify_on_final: cmd.mode == RefundMode::LegacyAsync,
            held,
            settled: None,
            quote,
            commission_returned: 0,
            acquirer: answer.acquirer,
            reversed_at: None,
            created_at: now,
            finished_at: None,
        };
        let floors = Floors::enforced(merchant.contract.overdraft_minor);
        let reserve = ledger::refund_reserved(&refund.merchant, refund.id.as_str(), held);
        // The reservation, the refund and what the channel's answer makes of
        // it are written together (one round trip on SQLite). A refused
        // reservation leaves none of them, so that a legacy async refund can
        // go on without its funds; nothing else in them can be refused.
        let mut writes = Writes::new();
        writes.post(&reserve, &new_id(IdKind::Posting, now), now, floors);
        writes.insert_refund(&refund);
        let accepted = refund.clone();
        let carried = Carried {
            totals: Some(totals.with(&accepted)),
            writes,
        };
        let followed = self
            .follow(
                &mut tx,
                &merchant,
                &payment,
                &mut refund,
                answer.outcome,
                carried,
            )
            .await;
        match followed {
            Ok(()) => {}
            Err(EngineError::Store(StoreError::BelowFloor { .. }))
                if cmd.mode == RefundMode::LegacyAsync =>
            {
                let mut refund = accepted;
                refund.status = RefundStatus::WaitingFunds;
                refund.held = Money::new(held.currency, 0);
                tx.insert_refund(&refund).await?;
                self.schedule(
                    &mut tx,
                    RETRY_FUNDS,
                    &refund,
                    "",
                    now.plus_millis(FUNDS_RETRY_MS),
                )
                .await?;
                tx.commit().await?;
                return Ok(refund);
            }
            Err(EngineError::Store(StoreError::BelowFloor { .. })) => {
                return Err(RefundRefused::BalanceNotEnough.into())
            }
            Err(e) => return Err(e),
        }
        tx.commit().await?;
        Ok(refund)
    }

    /// Acts on what the channel said about a refund that holds its funds.
    async fn follow(
        &self,
        tx: &mut Tx,
        merchant: &Merchant,
        payment: &Payment,
        refund: &mut Refund,
        outcome: ChannelOutcome,
        carried: Carried,
    ) -> Result<()> {
        let now = self.now();
        let timed_out = matches!(outcome, ChannelOutcome::TimedOut { .. });
        match outcome {
            ChannelOutcome::Now(settle) => {
                self.settle(tx, merchant, payment, refund, settle, carried)
                    .await
            }
            ChannelOutcome::Pending { after_ms, then }
            | ChannelOutcome::TimedOut { after_ms, then } => {
                if timed_out {
                    refund.result_code = Some("UNKNOWN_EXCEPTION".into());
                }
                // An AMS answer that is not final now owes a notification when it becomes final.
                refund.notify_on_final |= payment.door == Door::Ams;
                let mut writes = carried.writes;
                writes.update_refund(refund);
                tx.write(writes).await?;
                self.schedule(
                    tx,
                    COMPLETE_REFUND,
                    refund,
                    &then.encode(),
                    now.plus_millis(after_ms),
                )
                .await
            }
        }
    }

    /// Finishes a refund that holds its funds, as the channel settled it.
    pub(crate) async fn settle(
        &self,
        tx: &mut Tx,
        merchant: &Merchant,
        payment: &Payment,
        refund: &mut Refund,
        settle: Settle,
        carried: Carried,
    ) -> Result<()> {
        match settle {
            Settle::Success => self.succeed(tx, merchant, payment, refund, carried).await,
            Settle::Fail { reason } => {
                self.fail(tx, merchant, payment, refund, reason, carried.writes)
                    .await
            }
            Settle::SuccessThenReverse { after_ms } => {
                self.succeed(tx, merchant, payment, refund, carried).await?;
                self.schedule(
                    tx,
                    REVERSE_REFUND,
                    refund,
                    "",
                    self.now().plus_millis(after_ms),
                )
                .await
            }
        }
    }

    /// The refund succeeded: it costs the merchant the settlement amount at
    /// today's rate, and the contract's share of the commission comes back.
    async fn succeed(
        &self,
        tx: &mut Tx,
        merchant: &Merchant,
        payment: &Payment,
        refund: &mut Refund,
        carried: Carried,
    ) -> Result<()> {
        let now = self.now();
        let mut writes = carried.writes;
        let totals = match carried.totals {
            Some(known) => known,
            None => tx.refund_totals(&payment.id).await?,
        };
        let (settled, quote) = self
            .settlement(tx, refund.amount, refund.held.currency, now)
            .await?;
        let returned = merchant.contract.commission_refund.returned(
            payment.commission_minor,
            payment.refundable_base(),
            refund.amount.minor,
            totals.outstanding_minor,
            totals.commission_returned,
        );
        let posting = ledger::refund_settled(
            &refund.merchant,
            refund.id.as_str(),
            refund.held,
            settled,
            refund.amount,
            returned,
        );
        // The money has left with the channel; a dearer rate may not be refused now.
        let floors = Floors {
            overdraft_minor: merchant.contract.overdraft_minor,
            enforce: false,
        };
        writes.post(&posting, &new_id(IdKind::Posting, now), now, floors);
        refund.status = RefundStatus::Success;
        refund.result_code = None;
        refund.settled = Some(settled);
        refund.quote = quote;
        refund.commission_returned = returned;
        refund.finished_at = Some(now);
        self.record_final(tx, merchant, payment, refund, true, writes)
            .await
    }

    /// The refund failed: its held funds go back to the merchant. Only AMS
    /// refunds are notified of it (docs/wire.md#forex_refund: a legacy async refund is
    /// notified only when it succeeds, and not when it expires waiting for funds).
    async fn fail(
        &self,
        tx: &mut Tx,
        merchant: &Merchant,
        payment: &Payment,
        refund: &mut Refund,
        reason: String,
        mut writes: Writes,
    ) -> Result<()> {
        let now = self.now();
        if refund.held.minor != 0 {
            let posting =
                ledger::refund_released(&refund.merchant, refund.id.as_str(), refund.held);
            writes.post(
                &posting,
                &new_id(IdKind::Posting, now),
                now,
                Floors::enforced(merchant.contract.overdraft_minor),
            );
        }
        refund.status = RefundStatus::Fail;
        refund.result_code = Some(reason);
        refund.finished_at = Some(now);
        let notify = payment.door == Door::Ams;
        self.record_final(tx, merchant, payment, refund, notify, writes)
            .await
    }

    /// Stores a final refund with the postings in `writes`, and the notification it owes.
    async fn record_final(
        &self,
        tx: &mut Tx,
        merchant: &Merchant,
        payment: &Payment,
        refund: &Refund,
        notify: bool,
        mut writes: Writes,
    ) -> Result<()> {
        debug_assert!(refund.status.is_final());
        writes.update_refund(refund);
        tx.write(writes).await?;
        if notify && refund.notify_on_final {
            notices::refund_final(tx, merchant, payment, refund, self.now()).await?;
        }
        Ok(())
    }

    async fn schedule(
        &self,
        tx: &mut Tx,
        kind: &str,
        refund: &Refund,
        payload: &str,
        at: Timestamp,
    ) -> Result<()> {
        let now = self.now();
        tx.insert_job(
            &new_id(IdKind::Posting, now),
            kind,
            refund.id.as_str(),
            payload,
            at,
            now,
        )
        .await?;
        Ok(())
    }

    /// Finishes a processing refund as its channel planned (a scheduled job).
    pub(crate) async fn complete_refund(
        &self,
        tx: &mut Tx,
        refund_id: &RefundId,
        plan: Settle,
    ) -> Result<()> {
        let Some((merchant, payment, mut refund)) =
            self.lock_refund_with_payment(tx, refund_id).await?
        else {
            return Ok(());
        };
        if refund.status != RefundStatus::Processing {
            return Ok(());
        }
        self.settle(
            tx,
            &merchant,
            &payment,
            &mut refund,
            plan,
            Carried::default(),
        )
        .await
    }

    /// Tries again to hold the funds of a refund waiting for them; fails it
    /// silently once the retry window is over. Returns whether to retry later.
    pub(crate) async fn retry_funds(&self, tx: &mut Tx, refund_id: &RefundId) -> Result<bool> {
        let now = self.now();
        let Some((merchant, payment, mut refund)) =
            self.lock_refund_with_payment(tx, refund_id).await?
        else {
            return Ok(false);
        };
        if refund.status != RefundStatus::WaitingFunds {
            return Ok(false);
        }
        if now >= refund.created_at.plus_days(FUNDS_RETRY_DAYS) {
            // After 180 days the refund fails and no notification is sent (docs/wire.md#forex_refund).
            self.fail(
                tx,
                &merchant,
                &payment,
                &mut refund,
                BALANCE_NOT_ENOUGH.into(),
                Writes::new(),
            )
            .await?;
            return Ok(false);
        }
        let (held, quote) = self
            .settlement(tx, refund.amount, refund.held.currency, now)
            .await?;
        let reserve = ledger::refund_reserved(&refund.merchant, refund.id.as_str(), held);
        match tx
            .post(
                &reserve,
                &new_id(IdKind::Posting, now),
                now,
                Floors::enforced(merchant.contract.overdraft_minor),
            )
            .await
        {
            Err(StoreError::BelowFloor { .. }) => return Ok(true),
            other => other?,
        }
        refund.status = RefundStatus::Processing;
        refund.held = held;
        refund.quote = quote;
        let caps = self.capabilities(&payment, &merchant.contract);
        let answer = self.inner.channel.submit(&payment, &caps);
        self.follow(
            tx,
            &merchant,
            &payment,
            &mut refund,
            answer.outcome,
            Carried::default(),
        )
        .await?;
        Ok(false)
    }

    /// The buyer's bank sent a successful refund's money back: it is the merchant's again.
    pub(crate) async fn reverse_refund(&self, tx: &mut Tx, refund_id: &RefundId) -> Result<()> {
        let now = self.now();
        let Some((merchant, _, mut refund)) = self.lock_refund_with_payment(tx, refund_id).await?
        else {
            return Ok(());
        };
        let (RefundStatus::Success, None, Some(settled)) =
            (refund.status, refund.reversed_at, refund.settled)
        else {
            return Ok(());
        };
        let posting =
            ledger::refund_reversed(&refund.merchant, refund.id.as_str(), refund.amount, settled);
        tx.post(
            &posting,
            &new_id(IdKind::Posting, now),
            now,
            Floors::enforced(merchant.contract.overdraft_minor),
        )
        .await?;
        refund.reversed_at = Some(now);
        tx.update_refund(&refund).await?;
        Ok(())
    }

    /// Locks a refund's payment, then the refund: the order refund creation takes too.
    async fn lock_refund_with_payment(
        &self,
        tx: &mut Tx,
        refund_id: &RefundId,
    ) -> Result<Option<(Merchant, Payment, Refund)>> {
        let Some(peek) = tx.refund_by_id(refund_id).await? else {
            return Ok(None);
        };
        let payment = tx
            .lock_payment(&peek.merchant, PaymentKey::Id(&peek.payment_id))
            .await?
            .ok_or_else(|| {
                EngineError::Store(StoreError::Corrupt(format!(
                    "refund {refund_id} has no payment"
                )))
            })?;
        let refund = tx
            .lock_refund(&peek.merchant, refund_id)
            .await?
            .ok_or(EngineError::RefundNotFound)?;
        let merchant = tx
            .merchant(&peek.merchant)
            .await?
            .ok_or(EngineError::UnknownMerchant)?;
        Ok(Some((merchant, payment, refund)))
    }

    pub async fn inquire_refund(&self, merchant: &ClientId, key: RefundKey<'_>) -> Result<Refund> {
        self.store()
            .refund(merchant, key)
            .await?
            .ok_or(EngineError::RefundNotFound)
    }
}
