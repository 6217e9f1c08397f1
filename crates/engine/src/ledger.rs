//! Moving a merchant's money outside payments and refunds, and reading balances.

use crate::error::{EngineError, Result};
use crate::ids::{new_id, IdKind};
use crate::Engine;
use backflow_domain::ledger::{self, PostingKind};
use backflow_domain::{ClientId, Money};
use backflow_store::{BalanceRow, Floors, Written};

impl Engine {
    /// Adds money to (positive) or takes it from (negative) a merchant's
    /// available balance: `Funding` for top-ups, `Adjustment` for corrections.
    /// A debit may not take the balance below the contract's floor.
    pub async fn move_merchant_funds(
        &self,
        merchant: &ClientId,
        money: Money,
        kind: PostingKind,
        reference: &str,
    ) -> Result<()> {
        if money.minor == 0 {
            return Err(EngineError::Invalid("the amount is zero".into()));
        }
        let m = self
            .store()
            .merchant(merchant)
            .await?
            .ok_or(EngineError::UnknownMerchant)?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let posting = ledger::funding(kind, merchant, reference, money);
        let floors = Floors::enforced(m.contract.overdraft_minor);
        match tx
            .post(&posting, &new_id(IdKind::Posting, now), now, floors)
            .await?
        {
            Written::BelowFloor { account } => {
                return Err(EngineError::Invalid(format!(
                    "{account} would go below its floor"
                )))
            }
            written => written.must_stand()?,
        }
        tx.commit().await?;
        Ok(())
    }

    /// The merchant's balances, every book and currency.
    pub async fn merchant_balances(&self, merchant: &ClientId) -> Result<Vec<BalanceRow>> {
        self.store()
            .merchant(merchant)
            .await?
            .ok_or(EngineError::UnknownMerchant)?;
        Ok(self.store().merchant_balances(merchant).await?)
    }
}
