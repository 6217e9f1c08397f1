//! Refunds: the heart of Backflow.
//!
//! A refund is accepted under the payment's lock, holds the merchant's
//! settlement funds, and is handed to its channel. It then succeeds, fails,
//! or stays processing until a scheduled job finishes it. Every step writes
//! its ledger posting and any notification it owes in the same transaction.
//!
//! [`Engine::refund`] reads top to bottom: it checks the request under the
//! payment's lock, asks the channel, and hands the new refund to a
//! [`RefundFlow`], which holds its funds and follows the channel's answer to
//! the refund's next state. The scheduled jobs (completion, the retry of a
//! refund waiting for funds, reversal) resume a flow from the stored refund.

use crate::channels::{ChannelAnswer, ChannelOutcome, Settle};
use crate::error::{EngineError, Result};
use crate::ids::{new_id, IdKind};
use crate::{notices, portal, sandbox, Engine};
use backflow_domain::ledger::{self, Posting};
use backflow_domain::merchant::Merchant;
use backflow_domain::payment::{Door, Payment};
use backflow_domain::refund::{
    check_repeat, Hold, IllegalTransition, Refund, RefundCode, RefundContext, RefundRefused,
    RefundState,
};
use backflow_domain::{
    ClientId, Money, PaymentId, RefundId, RefundRequestId, ResultCode, Timestamp,
};
use backflow_store::{
    Floors, PaymentKey, RefundKey, RefundTotals, StoreError, Tx, Writes, Written,
};

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
    /// The merchant portal: a payment of either door; a short balance waits
    /// as for `LegacyAsync`; never notified (docs/portal.md).
    Portal,
}

impl RefundMode {
    /// Whether a payment made through `door` is refunded this way: through the door it was made through.
    pub fn serves(self, door: Door) -> bool {
        match self {
            Self::Ams => door == Door::Ams,
            Self::LegacySync | Self::LegacyAsync => door == Door::Legacy,
            Self::Portal => true,
        }
    }

    /// Whether a short merchant balance makes the refund wait instead of refusing it.
    fn waits_for_funds(self) -> bool {
        matches!(self, Self::LegacyAsync | Self::Portal)
    }
}

/// Job kinds the refund lifecycle schedules.
pub(crate) const COMPLETE_REFUND: &str = "COMPLETE_REFUND";
pub(crate) const RETRY_FUNDS: &str = "RETRY_FUNDS";
pub(crate) const REVERSE_REFUND: &str = "REVERSE_REFUND";

/// How often a refund waiting for funds is retried, and for how long.
pub const FUNDS_RETRY_MS: i64 = 6 * 3_600_000;
pub const FUNDS_RETRY_DAYS: i64 = 180;

/// Whether a refund attempt still counts against the merchant's rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    Check,
    /// A second attempt at a request admitted once.
    Admitted,
}

/// How one attempt at a refund ended.
enum Attempt {
    /// With the refund the request made or had made.
    Answered(Box<Refund>),
    /// The request id raced in on another payment: the other attempt's refund stands.
    Raced,
}

impl Engine {
    /// Creates a refund, or answers with the one this request id already made.
    pub async fn refund(&self, cmd: RefundCommand) -> Result<Refund> {
        let attempt = match self.try_refund(&cmd, Admission::Check).await? {
            // The loser of the race answers as a repeat (admitted already).
            Attempt::Raced => self.try_refund(&cmd, Admission::Admitted).await?,
            answered => answered,
        };
        match attempt {
            Attempt::Answered(refund) => Ok(*refund),
            Attempt::Raced => Err(StoreError::Corrupt(format!(
                "refund request {} is taken and not found",
                cmd.request_id
            ))
            .into()),
        }
    }

    /// One attempt at a refund, as one unit of work: all it awaits is its own statements.
    async fn try_refund(&self, cmd: &RefundCommand, admission: Admission) -> Result<Attempt> {
        let mut tx = self.store().begin().await?;
        let now = self.now();
        // Read in the transaction, before any lock: on SQLite the writer's
        // page cache holds the merchant, where a reader's is dropped every
        // time a group commits; on PostgreSQL it spares a second connection.
        let merchant = tx
            .merchant(&cmd.merchant)
            .await?
            .ok_or(EngineError::UnknownMerchant)?;
        if (cmd.mode == RefundMode::Portal) != portal::made_in_portal(&cmd.request_id) {
            return Err(EngineError::Invalid(format!(
                "refund request ids starting with {} are the merchant portal's",
                portal::PORTAL_REQUEST_PREFIX
            )));
        }
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
            return Ok(Attempt::Answered(Box::new(existing)));
        }
        let payment = payment
            .filter(|p| cmd.mode.serves(p.door))
            .ok_or(EngineError::PaymentNotFound)?;
        let caps = self.capabilities(&payment, &merchant.contract);
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
                    ResultCode::RequestTrafficExceedLimit => EngineError::TrafficLimited,
                    code => EngineError::Injected(code),
                });
            }
            Some(sandbox::Injection::Channel(outcome)) => ChannelAnswer {
                outcome,
                acquirer: crate::channels::Simulator::acquirer_ref(&payment),
            },
            None => self.inner.channels.of(&merchant)?.submit(&payment, &caps),
        };

        let (held, quote) = self
            .settlement(&mut tx, cmd.amount, payment.settlement_currency, now)
            .await?;
        let accepted = Refund {
            id: RefundId::parse(new_id(IdKind::Refund, now))
                .map_err(|e| EngineError::Invalid(e.to_string()))?,
            merchant: cmd.merchant.clone(),
            request_id: cmd.request_id.clone(),
            payment_id: payment.id.clone(),
            amount: cmd.amount,
            reason: cmd.reason.clone(),
            notify_url: cmd.notify_url.clone(),
            notify_on_final: cmd.mode == RefundMode::LegacyAsync,
            acquirer: answer.acquirer,
            created_at: now,
            state: RefundState::Processing {
                hold: Hold {
                    amount: held,
                    quote,
                },
                timed_out: false,
            },
        };
        let mut flow = RefundFlow {
            engine: self,
            tx: &mut tx,
            totals: Some(totals.with(&accepted)),
            refund: accepted.clone(),
            merchant,
            payment,
            now,
            writes: Writes::new(),
        };
        // The reservation, the refund and what the channel's answer makes of
        // it are written together (one round trip on SQLite). A refused
        // reservation leaves none of them, so that a legacy async refund can
        // go on without its funds; nothing else in them can be refused.
        flow.reserve(held);
        flow.writes.insert_refund(&flow.refund);
        let refund = match flow.follow(answer.outcome).await? {
            Written::Applied => flow.refund,
            Written::Existing => return Ok(Attempt::Raced),
            Written::BelowFloor { .. } if cmd.mode.waits_for_funds() => {
                flow.refund = accepted;
                match flow.wait_for_funds().await? {
                    Written::Existing => return Ok(Attempt::Raced),
                    written => {
                        written.must_stand()?;
                        flow.refund
                    }
                }
            }
            Written::BelowFloor { .. } => return Err(RefundRefused::BalanceNotEnough.into()),
        };
        tx.commit().await?;
        Ok(Attempt::Answered(Box::new(refund)))
    }

    /// Finishes a processing refund as its channel planned (a scheduled job).
    pub(crate) async fn complete_refund(
        &self,
        tx: &mut Tx,
        refund_id: &RefundId,
        plan: Settle,
    ) -> Result<()> {
        let Some(mut flow) = RefundFlow::resume(self, tx, refund_id).await? else {
            return Ok(());
        };
        if !matches!(flow.refund.state, RefundState::Processing { .. }) {
            return Ok(());
        }
        flow.settle(plan).await?.must_stand()?;
        Ok(())
    }

    /// Tries again to hold the funds of a refund waiting for them; fails it
    /// silently once the retry window is over. Returns whether to retry later.
    pub(crate) async fn retry_funds(&self, tx: &mut Tx, refund_id: &RefundId) -> Result<bool> {
        let Some(mut flow) = RefundFlow::resume(self, tx, refund_id).await? else {
            return Ok(false);
        };
        let RefundState::WaitingFunds { currency } = flow.refund.state else {
            return Ok(false);
        };
        if flow.now >= flow.refund.created_at.plus_days(FUNDS_RETRY_DAYS) {
            // After 180 days the refund fails and no notification is sent (docs/wire.md#forex_refund).
            flow.fail(ResultCode::MerchantBalanceNotEnough)
                .await?
                .must_stand()?;
            return Ok(false);
        }
        let (held, quote) = self
            .settlement(flow.tx, flow.refund.amount, currency, flow.now)
            .await?;
        flow.refund
            .hold(Hold {
                amount: held,
                quote,
            })
            .map_err(illegal)?;
        // As at creation: the reservation and what the channel's answer makes
        // of the refund go in one batch, which a short balance refuses whole.
        flow.reserve(held);
        let caps = self.capabilities(&flow.payment, &flow.merchant.contract);
        let answer = self
            .inner
            .channels
            .of(&flow.merchant)?
            .submit(&flow.payment, &caps);
        match flow.follow(answer.outcome).await? {
            Written::BelowFloor { .. } => Ok(true),
            written => written.must_stand().map(|()| false).map_err(Into::into),
        }
    }

    /// The buyer's bank sent a successful refund's money back: it is the merchant's again.
    pub(crate) async fn reverse_refund(&self, tx: &mut Tx, refund_id: &RefundId) -> Result<()> {
        let Some(mut flow) = RefundFlow::resume(self, tx, refund_id).await? else {
            return Ok(());
        };
        // Reversed already, or never a success: nothing to give back.
        if !matches!(flow.refund.state, RefundState::Success(_)) {
            return Ok(());
        }
        let settled = flow.refund.reverse(flow.now).map_err(illegal)?;
        let r = &flow.refund;
        let posting = ledger::refund_reversed(&r.merchant, r.id.as_str(), r.amount, settled);
        flow.post(&posting, flow.enforced());
        flow.writes.update_refund(&flow.refund);
        flow.write().await?.must_stand()?;
        Ok(())
    }

    pub async fn inquire_refund(&self, merchant: &ClientId, key: RefundKey<'_>) -> Result<Refund> {
        self.store()
            .refund(merchant, key)
            .await?
            .ok_or(EngineError::RefundNotFound)
    }
}

/// A refund on its way to its next state, in one unit of work: what the
/// step was read with, and the writes not sent yet, which go out in one
/// batch with the refund's next state.
struct RefundFlow<'a> {
    engine: &'a Engine,
    tx: &'a mut Tx,
    merchant: Merchant,
    payment: Payment,
    refund: Refund,
    now: Timestamp,
    /// The payment's refund totals with this refund, when already read.
    totals: Option<RefundTotals>,
    writes: Writes,
}

impl<'a> RefundFlow<'a> {
    /// Locks a refund's payment, then the refund (the order refund creation
    /// takes too), for a job that starts from the refund's id.
    async fn resume(
        engine: &'a Engine,
        tx: &'a mut Tx,
        refund_id: &RefundId,
    ) -> Result<Option<RefundFlow<'a>>> {
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
        Ok(Some(RefundFlow {
            engine,
            tx,
            merchant,
            payment,
            refund,
            now: engine.now(),
            totals: None,
            writes: Writes::new(),
        }))
    }

    /// Acts on what the channel said about a refund that holds its funds.
    async fn follow(&mut self, outcome: ChannelOutcome) -> Result<Written> {
        match outcome {
            ChannelOutcome::Now(settle) => self.settle(settle).await,
            ChannelOutcome::Pending { after_ms, then } => {
                self.await_channel(false, after_ms, then).await
            }
            ChannelOutcome::TimedOut { after_ms, then } => {
                self.await_channel(true, after_ms, then).await
            }
        }
    }

    /// The channel answers later: the refund stays processing, and a job
    /// finishes it as the channel planned.
    async fn await_channel(
        &mut self,
        timed_out: bool,
        after_ms: i64,
        then: Settle,
    ) -> Result<Written> {
        self.refund.await_channel(timed_out).map_err(illegal)?;
        // An AMS answer that is not final now owes a notification when
        // it becomes final; the portal's answers are its pages.
        self.refund.notify_on_final |=
            self.payment.door == Door::Ams && !portal::made_in_portal(&self.refund.request_id);
        self.writes.update_refund(&self.refund);
        let written = self.write().await?;
        if written == Written::Applied {
            self.schedule(COMPLETE_REFUND, &then.encode(), after_ms)
                .await?;
        }
        Ok(written)
    }

    /// Finishes a refund that holds its funds, as the channel settled it.
    async fn settle(&mut self, settle: Settle) -> Result<Written> {
        match settle {
            Settle::Success => self.succeed().await,
            Settle::Fail { reason } => self.fail(reason).await,
            Settle::SuccessThenReverse { after_ms } => {
                let written = self.succeed().await?;
                if written == Written::Applied {
                    self.schedule(REVERSE_REFUND, "", after_ms).await?;
                }
                Ok(written)
            }
        }
    }

    /// The refund succeeded: it costs the merchant the settlement amount at
    /// today's rate, and the contract's share of the commission comes back.
    async fn succeed(&mut self) -> Result<Written> {
        let totals = match self.totals {
            Some(known) => known,
            None => self.tx.refund_totals(&self.payment.id).await?,
        };
        let currency = self.refund.state.settlement_currency();
        let (settled, quote) = self
            .engine
            .settlement(self.tx, self.refund.amount, currency, self.now)
            .await?;
        let returned = self.merchant.contract.commission_refund.returned(
            self.payment.commission_minor,
            self.payment.refundable_base(),
            self.refund.amount.minor,
            totals.outstanding_minor,
            totals.commission_returned,
        );
        let held = self
            .refund
            .succeed(settled, quote, returned, self.now)
            .map_err(illegal)?;
        let r = &self.refund;
        let posting = ledger::refund_settled(
            &r.merchant,
            r.id.as_str(),
            held,
            settled,
            r.amount,
            returned,
        );
        // The money has left with the channel; a dearer rate may not be refused now.
        let floors = Floors {
            enforce: false,
            ..self.enforced()
        };
        self.post(&posting, floors);
        self.record_final(true).await
    }

    /// The refund failed: its held funds go back to the merchant. Only AMS
    /// refunds are notified of it: a legacy asynchronous refund is notified
    /// only when it succeeds, and not when it expires waiting for funds.
    async fn fail(&mut self, code: RefundCode) -> Result<Written> {
        let released = self.refund.fail(code, self.now).map_err(illegal)?;
        if released.minor != 0 {
            let r = &self.refund;
            let posting = ledger::refund_released(&r.merchant, r.id.as_str(), released);
            self.post(&posting, self.enforced());
        }
        self.record_final(self.payment.door == Door::Ams).await
    }

    /// A legacy asynchronous refund the merchant's balance cannot cover yet:
    /// stored holding nothing, and retried every [`FUNDS_RETRY_MS`].
    async fn wait_for_funds(&mut self) -> Result<Written> {
        self.refund.wait_for_funds().map_err(illegal)?;
        self.writes.insert_refund(&self.refund);
        let written = self.write().await?;
        if written == Written::Applied {
            self.schedule(RETRY_FUNDS, "", FUNDS_RETRY_MS).await?;
        }
        Ok(written)
    }

    /// Stores a final refund with the postings gathered, and the notification it owes.
    async fn record_final(&mut self, notify: bool) -> Result<Written> {
        debug_assert!(self.refund.status().is_final());
        self.writes.update_refund(&self.refund);
        let written = self.write().await?;
        if written == Written::Applied && notify && self.refund.notify_on_final {
            notices::refund_final(
                self.tx,
                &self.merchant,
                &self.payment,
                &self.refund,
                self.now,
            )
            .await?;
        }
        Ok(written)
    }

    /// The merchant's floors, enforced.
    fn enforced(&self) -> Floors {
        Floors::enforced(self.merchant.contract.overdraft_minor)
    }

    /// Holds `held` of the merchant's available funds for the refund.
    fn reserve(&mut self, held: Money) {
        let r = &self.refund;
        let posting = ledger::refund_reserved(&r.merchant, r.id.as_str(), held);
        self.post(&posting, self.enforced());
    }

    fn post(&mut self, posting: &Posting, floors: Floors) {
        let id = new_id(IdKind::Posting, self.now);
        self.writes.post(posting, &id, self.now, floors);
    }

    /// Sends the writes gathered, as one batch.
    async fn write(&mut self) -> Result<Written> {
        Ok(self.tx.write(std::mem::take(&mut self.writes)).await?)
    }

    async fn schedule(&mut self, kind: &str, payload: &str, after_ms: i64) -> Result<()> {
        self.tx
            .insert_job(
                &new_id(IdKind::Posting, self.now),
                kind,
                self.refund.id.as_str(),
                payload,
                self.now.plus_millis(after_ms),
                self.now,
            )
            .await?
            .must_be_new()?;
        Ok(())
    }
}

/// A transition the stored refund does not allow: what was read under its
/// lock disagrees with the step taking it.
fn illegal(e: IllegalTransition) -> EngineError {
    StoreError::Corrupt(e.to_string()).into()
}
