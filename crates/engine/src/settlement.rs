//! Settlement: paying merchants their funds, batch by batch (docs/reports.md).
//!
//! A batch pays out the merchant's ledger movements of its period in one
//! currency, in one balanced posting from the available balance, named by
//! the batch id. Funds below the contract's minimum wait for the next
//! batch; a batch the available balance cannot cover waits and is tried
//! again on every run, so a payout never takes the balance below zero.

use crate::error::{EngineError, Result};
use crate::ids::{new_id, IdKind};
use crate::reports::new_batch_id;
use crate::Engine;
use backflow_domain::ledger;
use backflow_domain::settlement::{BatchStatus, Day, SettlementTerms};
use backflow_domain::{ClientId, Money, Timestamp};
use backflow_store::{Floors, SettlementBatch, Tx};

impl Engine {
    pub async fn settlement_terms(&self, merchant: &ClientId) -> Result<SettlementTerms> {
        Ok(self.store().settlement_terms(merchant).await?)
    }

    pub async fn set_settlement_terms(
        &self,
        merchant: &ClientId,
        terms: SettlementTerms,
    ) -> Result<()> {
        if terms.minimum_minor < 0 {
            return Err(EngineError::Invalid(
                "a minimum settlement amount is not negative".into(),
            ));
        }
        let mut tx = self.store().begin().await?;
        tx.merchant(merchant)
            .await?
            .ok_or(EngineError::UnknownMerchant)?;
        tx.set_settlement_terms(merchant, terms, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Runs the batches due on `day` for one merchant or all, and retries
    /// those waiting for funds. Running a day twice makes no second batch.
    /// Returns the batches of the run, paid or waiting.
    pub async fn run_settlement(
        &self,
        day: Day,
        merchant: Option<&ClientId>,
    ) -> Result<Vec<SettlementBatch>> {
        let mut batches = Vec::new();
        for m in self.merchants_or_all(merchant).await? {
            batches.extend(self.settle_merchant(&m, day).await?);
        }
        Ok(batches)
    }

    /// One merchant's settlement of `day`, as one transaction.
    async fn settle_merchant(&self, merchant: &ClientId, day: Day) -> Result<Vec<SettlementBatch>> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let contract = tx
            .merchant(merchant)
            .await?
            .ok_or(EngineError::UnknownMerchant)?
            .contract;
        let floors = Floors::enforced(contract.overdraft_minor);
        let created = tx
            .merchant_created_at(merchant)
            .await?
            .unwrap_or(Timestamp(0));
        let terms = tx.settlement_terms(merchant).await?;
        let mut batches = Vec::new();
        // Batches that waited are older than today's: they are paid first.
        for mut batch in tx.lock_waiting_batches(merchant).await? {
            if pay_out(&mut tx, &mut batch, floors, now).await? {
                tx.update_settlement_batch(&batch).await?;
            }
            batches.push(batch);
        }
        let cutoff = terms
            .cycle
            .period_settled_on(day)
            .map(|(_, until)| until.start())
            // A period not over yet is not settled.
            .filter(|cutoff| *cutoff <= now);
        if let Some(cutoff) = cutoff {
            for currency in tx.merchant_currencies(merchant).await? {
                if let Some(done) = tx.lock_settlement_batch(merchant, currency, day).await? {
                    if !batches.iter().any(|b| b.id == done.id) {
                        batches.push(done);
                    }
                    continue;
                }
                let from = tx
                    .last_batch_end(merchant, currency)
                    .await?
                    .unwrap_or(created);
                if from >= cutoff {
                    continue;
                }
                let funds = tx
                    .merchant_funds(merchant, from, cutoff)
                    .await?
                    .into_iter()
                    .find(|(c, _)| *c == currency)
                    .map_or(0, |(_, f)| f);
                if !terms.pays(funds) {
                    continue;
                }
                let mut batch = SettlementBatch {
                    id: new_batch_id(now),
                    merchant: merchant.clone(),
                    settle_date: day,
                    covers_from: from,
                    covers_to: cutoff,
                    amount: Money::new(currency, funds),
                    status: BatchStatus::WaitingFunds,
                    posting_id: None,
                    created_at: now,
                    settled_at: None,
                };
                pay_out(&mut tx, &mut batch, floors, now).await?;
                tx.insert_settlement_batch(&batch).await?;
                batches.push(batch);
            }
        }
        tx.commit().await?;
        Ok(batches)
    }
}

/// Pays a batch out when the available balance covers it; returns whether it did.
async fn pay_out(
    tx: &mut Tx,
    batch: &mut SettlementBatch,
    floors: Floors,
    now: Timestamp,
) -> Result<bool> {
    let balance = tx
        .lock_available_balance(&batch.merchant, batch.amount.currency)
        .await?;
    // "Deducted only when the balance is sufficient": an overdraft is for refunds, not payouts.
    if balance < batch.amount.minor {
        return Ok(false);
    }
    let posting_id = new_id(IdKind::Posting, now);
    let posting = ledger::settlement_paid(&batch.merchant, &batch.id, batch.amount);
    tx.post(&posting, &posting_id, now, floors)
        .await?
        .must_stand()?;
    batch.status = BatchStatus::Settled;
    batch.posting_id = Some(posting_id);
    batch.settled_at = Some(now);
    Ok(true)
}
