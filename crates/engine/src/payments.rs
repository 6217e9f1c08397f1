//! Sandbox payments, captures and cancellations: what there is to refund.

use crate::error::{EngineError, Result};
use crate::ids::{new_id, IdKind};
use crate::{notices, Engine};
use backflow_domain::ledger;
use backflow_domain::merchant::{commission, Merchant};
use backflow_domain::method::is_card;
use backflow_domain::payment::{Door, Payment, PaymentStatus, ProductCode};
use backflow_domain::refund::Refund;
use backflow_domain::{
    CaptureId, CaptureRequestId, ClientId, Currency, Money, PaymentId, PaymentRequestId,
};
use backflow_store::{Capture, Floors, Inserted, PaymentKey, StoreError, Tx};

/// A `pay` request, parsed.
#[derive(Debug, Clone)]
pub struct PayCommand {
    pub merchant: ClientId,
    /// The door the payment comes through; refunds must come through the same one.
    pub door: Door,
    pub request_id: PaymentRequestId,
    pub amount: Money,
    pub method_type: String,
    pub product_code: ProductCode,
    /// Cards: authorise now, capture later.
    pub is_authorization: bool,
    pub settlement_currency: Option<Currency>,
    pub notify_url: Option<String>,
}

/// A `capture` request, parsed.
#[derive(Debug, Clone)]
pub struct CaptureCommand {
    pub merchant: ClientId,
    pub request_id: CaptureRequestId,
    pub payment_id: PaymentId,
    pub amount: Money,
    pub is_last: bool,
}

/// A payment with what happened to it since.
#[derive(Debug, Clone)]
pub struct PaymentDetails {
    pub payment: Payment,
    pub captures: Vec<Capture>,
    pub refunds: Vec<Refund>,
}

impl Engine {
    /// Creates a sandbox payment. Wallet agreement and in-store payments and
    /// card payments succeed at once; cashier payments wait for the buyer on
    /// the sandbox checkout page.
    pub async fn pay(&self, cmd: PayCommand) -> Result<Payment> {
        match self.try_pay(&cmd).await? {
            Some(payment) => Ok(payment),
            // Two identical requests raced past the lookup; the loser answers as a repeat.
            None => self
                .try_pay(&cmd)
                .await?
                .ok_or(EngineError::Store(StoreError::Duplicate)),
        }
    }

    /// `None` when another request took the request id meanwhile.
    async fn try_pay(&self, cmd: &PayCommand) -> Result<Option<Payment>> {
        let mut tx = self.store().begin().await?;
        if let Some(existing) = tx
            .lock_payment(&cmd.merchant, PaymentKey::RequestId(&cmd.request_id))
            .await?
        {
            return if existing.amount == cmd.amount
                && existing.method_type == cmd.method_type
                && existing.door == cmd.door
            {
                Ok(Some(existing))
            } else {
                Err(EngineError::RepeatInconsistent)
            };
        }
        let merchant = tx
            .merchant(&cmd.merchant)
            .await?
            .ok_or(EngineError::UnknownMerchant)?;
        let now = self.now();
        let card = is_card(&cmd.method_type);
        let settlement_currency = cmd
            .settlement_currency
            .or(merchant.settlement_currency)
            .unwrap_or(cmd.amount.currency);
        // Refuse a settlement currency there is no rate for before anything is written.
        self.settlement(&mut tx, cmd.amount, settlement_currency, now)
            .await?;
        let status = match (card, cmd.is_authorization, cmd.product_code) {
            (true, true, _) => PaymentStatus::Authorized,
            (true, false, _) | (false, _, ProductCode::Agreement | ProductCode::InStore) => {
                PaymentStatus::Success
            }
            (false, _, ProductCode::Cashier) => PaymentStatus::Processing,
        };
        let mut payment = Payment {
            id: PaymentId::parse(new_id(IdKind::Payment, now))
                .map_err(|e| EngineError::Invalid(e.to_string()))?,
            merchant: cmd.merchant.clone(),
            door: cmd.door,
            request_id: cmd.request_id.clone(),
            amount: cmd.amount,
            method_type: cmd.method_type.clone(),
            product_code: cmd.product_code,
            status,
            is_authorization: card && cmd.is_authorization,
            captured_minor: 0,
            capture_closed: false,
            settlement_currency,
            settled_minor: 0,
            commission_minor: 0,
            acquirer: card
                .then(|| merchant.contract.card_acquirer.clone())
                .flatten(),
            chargeback_pending: false,
            notify_url: cmd.notify_url.clone(),
            created_at: now,
            paid_at: (status == PaymentStatus::Success).then_some(now),
        };
        if status == PaymentStatus::Success {
            let reference = payment.id.to_string();
            self.receive(&mut tx, &merchant, &mut payment, cmd.amount, &reference)
                .await?;
        }
        if tx.insert_payment(&payment).await? == Inserted::Existing {
            return Ok(None);
        }
        if status == PaymentStatus::Success {
            notices::payment_succeeded(&mut tx, &merchant, &payment, now).await?;
        }
        tx.commit().await?;
        Ok(Some(payment))
    }

    /// Money of a payment (or capture) reaches the merchant: exchanged into the
    /// settlement currency at today's rate, less the contract's commission. The
    /// posting names `reference`, the payment or the capture, as its report row
    /// does. Returns the settlement amount and the commission.
    async fn receive(
        &self,
        tx: &mut Tx,
        merchant: &Merchant,
        payment: &mut Payment,
        money: Money,
        reference: &str,
    ) -> Result<(i64, i64)> {
        let now = self.now();
        let (settled, _) = self
            .settlement(tx, money, payment.settlement_currency, now)
            .await?;
        let fee = commission(settled.minor, merchant.contract.commission_bps);
        let posting = ledger::payment_received(&payment.merchant, reference, money, settled, fee);
        tx.post(
            &posting,
            &new_id(IdKind::Posting, now),
            now,
            Floors::enforced(merchant.contract.overdraft_minor),
        )
        .await?
        .must_stand()?;
        payment.settled_minor += settled.minor;
        payment.commission_minor += fee;
        Ok((settled.minor, fee))
    }

    /// The buyer pays on the sandbox checkout page.
    pub async fn complete_checkout(
        &self,
        merchant: &ClientId,
        payment_id: &PaymentId,
    ) -> Result<Payment> {
        let (mut tx, mut payment) = self
            .locked_payment(merchant, PaymentKey::Id(payment_id))
            .await?;
        match payment.status {
            PaymentStatus::Success => return Ok(payment),
            PaymentStatus::Processing => {}
            _ => return Err(EngineError::PaymentStatusInvalid),
        }
        let m = tx
            .merchant(merchant)
            .await?
            .ok_or(EngineError::UnknownMerchant)?;
        payment.status = PaymentStatus::Success;
        payment.paid_at = Some(self.now());
        let amount = payment.amount;
        let reference = payment.id.to_string();
        self.receive(&mut tx, &m, &mut payment, amount, &reference)
            .await?;
        tx.update_payment(&payment).await?;
        notices::payment_succeeded(&mut tx, &m, &payment, self.now()).await?;
        tx.commit().await?;
        Ok(payment)
    }

    /// Captures part or all of a card authorisation.
    pub async fn capture(&self, cmd: CaptureCommand) -> Result<(Payment, Capture)> {
        let (mut tx, mut payment) = self
            .locked_payment(&cmd.merchant, PaymentKey::Id(&cmd.payment_id))
            .await?;
        if let Some(existing) = tx
            .capture_by_request_id(&cmd.merchant, &cmd.request_id)
            .await?
        {
            return if existing.payment_id == cmd.payment_id && existing.amount == cmd.amount {
                Ok((payment, existing))
            } else {
                Err(EngineError::RepeatInconsistent)
            };
        }
        let capturable = payment.capturable();
        if capturable == 0 {
            return Err(EngineError::PaymentStatusInvalid);
        }
        if cmd.amount.currency != payment.amount.currency {
            return Err(EngineError::CurrencyNotSupported);
        }
        if cmd.amount.minor > capturable || cmd.amount.minor <= 0 {
            return Err(EngineError::CaptureAmountExceeds);
        }
        let merchant = tx
            .merchant(&cmd.merchant)
            .await?
            .ok_or(EngineError::UnknownMerchant)?;
        let now = self.now();
        let capture = Capture {
            id: CaptureId::parse(new_id(IdKind::Capture, now))
                .map_err(|e| EngineError::Invalid(e.to_string()))?,
            request_id: cmd.request_id.clone(),
            payment_id: payment.id.clone(),
            amount: cmd.amount,
            created_at: now,
        };
        payment.captured_minor += cmd.amount.minor;
        payment.capture_closed = cmd.is_last || payment.captured_minor == payment.amount.minor;
        payment.status = PaymentStatus::Success;
        payment.paid_at = payment.paid_at.or(Some(now));
        let (settled, fee) = self
            .receive(
                &mut tx,
                &merchant,
                &mut payment,
                cmd.amount,
                capture.id.as_str(),
            )
            .await?;
        tx.update_payment(&payment).await?;
        tx.insert_capture(&cmd.merchant, &capture).await?;
        tx.record_capture_settlement(capture.id.as_str(), settled, fee)
            .await?;
        notices::capture_succeeded(&mut tx, &merchant, &payment, &capture, now).await?;
        tx.commit().await?;
        Ok((payment, capture))
    }

    /// Cancels a payment that has not been paid or captured. Cancelling twice is not an error.
    pub async fn cancel(&self, merchant: &ClientId, key: PaymentKey<'_>) -> Result<Payment> {
        let (mut tx, mut payment) = self.locked_payment(merchant, key).await?;
        match payment.status {
            PaymentStatus::Cancelled => return Ok(payment),
            PaymentStatus::Processing | PaymentStatus::Authorized => {}
            _ => return Err(EngineError::PaymentStatusInvalid),
        }
        payment.status = PaymentStatus::Cancelled;
        tx.update_payment(&payment).await?;
        tx.commit().await?;
        Ok(payment)
    }

    pub async fn inquire_payment(
        &self,
        merchant: &ClientId,
        key: PaymentKey<'_>,
    ) -> Result<PaymentDetails> {
        let store = self.store();
        let payment = store
            .payment(merchant, key)
            .await?
            .ok_or(EngineError::PaymentNotFound)?;
        let captures = store.captures_of(&payment.id).await?;
        let refunds = store.refunds_of(&payment.id).await?;
        Ok(PaymentDetails {
            payment,
            captures,
            refunds,
        })
    }
}

impl Engine {
    /// Opens (or closes, once liability is decided) a chargeback on a card
    /// payment: while it is open, the payment cannot be refunded.
    pub async fn set_chargeback(
        &self,
        merchant: &ClientId,
        payment_id: &PaymentId,
        pending: bool,
    ) -> Result<Payment> {
        let (mut tx, mut payment) = self
            .locked_payment(merchant, PaymentKey::Id(payment_id))
            .await?;
        if !is_card(&payment.method_type) {
            return Err(EngineError::Invalid(
                "only card payments have chargebacks".into(),
            ));
        }
        payment.chargeback_pending = pending;
        tx.update_payment(&payment).await?;
        tx.commit().await?;
        Ok(payment)
    }

    /// Starts a write transaction holding the payment's row lock; no such
    /// payment of this merchant is [`EngineError::PaymentNotFound`].
    async fn locked_payment(
        &self,
        merchant: &ClientId,
        key: PaymentKey<'_>,
    ) -> Result<(Tx, Payment)> {
        let mut tx = self.store().begin().await?;
        let payment = tx
            .lock_payment(merchant, key)
            .await?
            .ok_or(EngineError::PaymentNotFound)?;
        Ok((tx, payment))
    }
}
