//! What doors read without changing anything: merchants, payments, report
//! lines, rates, the ledger's soundness, and whether the database answers.

use crate::error::Result;
use crate::Engine;
use backflow_domain::merchant::Merchant;
use backflow_domain::payment::{Door, Payment};
use backflow_domain::{ClientId, Currency, Timestamp};
use backflow_store::{FxRate, LedgerBreach, PaymentKey, ReportTransaction};

impl Engine {
    pub async fn merchant(&self, client_id: &ClientId) -> Result<Option<Merchant>> {
        Ok(self.store().merchant(client_id).await?)
    }

    /// The merchant a legacy `partner` id belongs to.
    pub async fn merchant_by_partner(&self, partner: &str) -> Result<Option<Merchant>> {
        Ok(self.store().merchant_by_partner(partner).await?)
    }

    /// A payment alone, without its captures and refunds (see `inquire_payment`).
    pub async fn payment(
        &self,
        merchant: &ClientId,
        key: PaymentKey<'_>,
    ) -> Result<Option<Payment>> {
        Ok(self.store().payment(merchant, key).await?)
    }

    /// The merchant's paid payments and successful refunds through `door`
    /// from `from` (inclusive) to `to` (exclusive), oldest first.
    pub async fn transactions_between(
        &self,
        merchant: &ClientId,
        door: Door,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ReportTransaction>> {
        Ok(self
            .store()
            .transactions_between(merchant, door, from, to)
            .await?)
    }

    /// For every currency quoted in `quote`, its latest rate on or before `date` (`YYYY-MM-DD`).
    pub async fn rates_quoted_in(&self, quote: Currency, date: &str) -> Result<Vec<FxRate>> {
        let store = self.store();
        let mut rates = Vec::new();
        for base in store.fx_bases_quoted_in(quote, date).await? {
            rates.extend(store.fx_rate(base, quote, date).await?);
        }
        Ok(rates)
    }

    /// Every broken ledger invariant; none on a sound ledger.
    pub async fn check_ledger(&self) -> Result<Vec<LedgerBreach>> {
        Ok(self.store().check_ledger().await?)
    }

    /// Closes the database, the writer's last group synced, before a command exits.
    pub async fn close(&self) {
        self.store().close().await;
    }

    /// Every merchant's id.
    pub async fn merchant_ids(&self) -> Result<Vec<ClientId>> {
        let merchants = self.store().merchants().await?;
        Ok(merchants.into_iter().map(|m| m.client_id).collect())
    }

    /// Whether the database answers.
    pub async fn ready(&self) -> Result<()> {
        self.store().ping().await?;
        Ok(())
    }
}
