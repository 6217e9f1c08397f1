//! Settlement terms and batches.

use crate::db::{query, Db, Row};
use crate::{corrupt, get_i64, get_opt_i64, get_opt_str, get_str, Result, Store, Tx};
use backflow_domain::ledger::Account;
use backflow_domain::settlement::{BatchStatus, Day, SettlementCycle, SettlementTerms};
use backflow_domain::{ClientId, Currency, Money, Timestamp};

/// A settlement batch: the merchant's funds in one currency, paid out on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementBatch {
    /// The `settlementBatchId`.
    pub id: String,
    pub merchant: ClientId,
    pub settle_date: Day,
    /// The ledger movements it pays were created from `covers_from` (inclusive) to `covers_to`.
    pub covers_from: Timestamp,
    pub covers_to: Timestamp,
    pub amount: Money,
    pub status: BatchStatus,
    /// The posting that paid it out, once settled.
    pub posting_id: Option<String>,
    pub created_at: Timestamp,
    pub settled_at: Option<Timestamp>,
}

const BATCH_COLUMNS: &str =
    "settlement_batch_id, client_id, currency, settle_date, covers_from, covers_to, \
    amount, status, posting_id, created_at, settled_at";

fn batch_from_row(row: &Row) -> Result<SettlementBatch> {
    let currency = Currency::parse(&get_str(row, "currency")?).map_err(corrupt)?;
    let date = get_str(row, "settle_date")?;
    let status = get_str(row, "status")?;
    Ok(SettlementBatch {
        id: get_str(row, "settlement_batch_id")?,
        merchant: ClientId::parse(get_str(row, "client_id")?).map_err(corrupt)?,
        settle_date: Day::parse(&date).ok_or_else(|| corrupt(date))?,
        covers_from: Timestamp(get_i64(row, "covers_from")?),
        covers_to: Timestamp(get_i64(row, "covers_to")?),
        amount: Money::new(currency, get_i64(row, "amount")?),
        status: BatchStatus::parse(&status).ok_or_else(|| corrupt(status))?,
        posting_id: get_opt_str(row, "posting_id")?,
        created_at: Timestamp(get_i64(row, "created_at")?),
        settled_at: get_opt_i64(row, "settled_at")?.map(Timestamp),
    })
}

async fn fetch_terms(db: Db<'_>, merchant: &ClientId) -> Result<SettlementTerms> {
    let row = query("SELECT cycle, minimum_minor FROM settlement_terms WHERE client_id = $1")
        .bind(merchant.as_str())
        .fetch_optional(db)
        .await?;
    let Some(row) = row else {
        return Ok(SettlementTerms::default());
    };
    let cycle = get_str(&row, "cycle")?;
    Ok(SettlementTerms {
        cycle: SettlementCycle::parse(&cycle).ok_or_else(|| corrupt(cycle))?,
        minimum_minor: get_i64(&row, "minimum_minor")?,
    })
}

impl Store {
    pub async fn settlement_terms(&self, merchant: &ClientId) -> Result<SettlementTerms> {
        fetch_terms(self.read(), merchant).await
    }

    /// The batches settled (or waiting) on `day`, of one merchant or all, by merchant and currency.
    pub async fn settlement_batches_on(
        &self,
        day: Day,
        merchant: Option<&ClientId>,
    ) -> Result<Vec<SettlementBatch>> {
        let rows = query(&format!(
            "SELECT {BATCH_COLUMNS} FROM settlement_batches WHERE settle_date = $1 \
             AND ($2 = '' OR client_id = $2) ORDER BY client_id, currency"
        ))
        .bind(day.to_string())
        .bind(merchant.map_or("", ClientId::as_str))
        .fetch_all(self.read())
        .await?;
        rows.iter().map(batch_from_row).collect()
    }

    /// What a posting did to a merchant's available balance (the batch's payout leg).
    pub async fn posting_effect(&self, posting_id: &str, merchant: &ClientId) -> Result<i64> {
        let row = query(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM ledger_legs \
             WHERE posting_id = $1 AND account = $2",
        )
        .bind(posting_id)
        .bind(Account::MerchantAvailable(merchant.clone()).key())
        .fetch_one(self.read())
        .await?;
        get_i64(&row, "total")
    }
}

impl Tx {
    pub async fn set_settlement_terms(
        &mut self,
        merchant: &ClientId,
        terms: SettlementTerms,
        now: Timestamp,
    ) -> Result<()> {
        query(
            "INSERT INTO settlement_terms (client_id, cycle, minimum_minor, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (client_id) DO UPDATE SET cycle = $2, minimum_minor = $3, updated_at = $4",
        )
        .bind(merchant.as_str())
        .bind(terms.cycle.to_string())
        .bind(terms.minimum_minor)
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    pub async fn settlement_terms(&mut self, merchant: &ClientId) -> Result<SettlementTerms> {
        fetch_terms(self.conn(), merchant).await
    }

    /// When the merchant was created: where its first batch starts.
    pub async fn merchant_created_at(&mut self, merchant: &ClientId) -> Result<Option<Timestamp>> {
        let row = query("SELECT created_at FROM merchants WHERE client_id = $1")
            .bind(merchant.as_str())
            .fetch_optional(self.conn())
            .await?;
        row.map(|r| get_i64(&r, "created_at").map(Timestamp))
            .transpose()
    }

    /// Currencies the merchant holds a balance in.
    pub async fn merchant_currencies(&mut self, merchant: &ClientId) -> Result<Vec<Currency>> {
        let rows =
            query("SELECT currency FROM ledger_balances WHERE account = $1 ORDER BY currency")
                .bind(Account::MerchantAvailable(merchant.clone()).key())
                .fetch_all(self.conn())
                .await?;
        rows.iter()
            .map(|r| Currency::parse(&get_str(r, "currency")?).map_err(corrupt))
            .collect()
    }

    /// Where the merchant's last batch in `currency` ended.
    pub async fn last_batch_end(
        &mut self,
        merchant: &ClientId,
        currency: Currency,
    ) -> Result<Option<Timestamp>> {
        let row = query(
            "SELECT MAX(covers_to) AS covers_to FROM settlement_batches WHERE client_id = $1 AND currency = $2",
        )
        .bind(merchant.as_str())
        .bind(currency.code())
        .fetch_one(self.conn())
        .await?;
        Ok(get_opt_i64(&row, "covers_to")?.map(Timestamp))
    }

    /// The merchant's batch of `day` in `currency`, locked.
    pub async fn lock_settlement_batch(
        &mut self,
        merchant: &ClientId,
        currency: Currency,
        day: Day,
    ) -> Result<Option<SettlementBatch>> {
        let lock = self.backend.lock_clause();
        let row = query(&format!(
            "SELECT {BATCH_COLUMNS} FROM settlement_batches WHERE client_id = $1 AND currency = $2 \
             AND settle_date = $3{lock}"
        ))
        .bind(merchant.as_str())
        .bind(currency.code())
        .bind(day.to_string())
        .fetch_optional(self.conn())
        .await?;
        row.as_ref().map(batch_from_row).transpose()
    }

    /// The merchant's batches waiting for funds, oldest first, locked.
    pub async fn lock_waiting_batches(
        &mut self,
        merchant: &ClientId,
    ) -> Result<Vec<SettlementBatch>> {
        let lock = self.backend.lock_clause();
        let rows = query(&format!(
            "SELECT {BATCH_COLUMNS} FROM settlement_batches WHERE client_id = $1 AND status = $2 \
             ORDER BY settle_date, currency{lock}"
        ))
        .bind(merchant.as_str())
        .bind(BatchStatus::WaitingFunds.as_str())
        .fetch_all(self.conn())
        .await?;
        rows.iter().map(batch_from_row).collect()
    }

    /// The merchant's available balance in `currency`, locked until the transaction ends.
    pub async fn lock_available_balance(
        &mut self,
        merchant: &ClientId,
        currency: Currency,
    ) -> Result<i64> {
        let lock = self.backend.lock_clause();
        let row = query(&format!(
            "SELECT balance FROM ledger_balances WHERE account = $1 AND currency = $2{lock}"
        ))
        .bind(Account::MerchantAvailable(merchant.clone()).key())
        .bind(currency.code())
        .fetch_optional(self.conn())
        .await?;
        row.map_or(Ok(0), |r| get_i64(&r, "balance"))
    }

    pub async fn insert_settlement_batch(&mut self, b: &SettlementBatch) -> Result<()> {
        query(&format!(
            "INSERT INTO settlement_batches ({BATCH_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(b.id.as_str())
        .bind(b.merchant.as_str())
        .bind(b.amount.currency.code())
        .bind(b.settle_date.to_string())
        .bind(b.covers_from.millis())
        .bind(b.covers_to.millis())
        .bind(b.amount.minor)
        .bind(b.status.as_str())
        .bind(b.posting_id.as_deref())
        .bind(b.created_at.millis())
        .bind(b.settled_at.map(Timestamp::millis))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Writes back a batch that was paid out.
    pub async fn update_settlement_batch(&mut self, b: &SettlementBatch) -> Result<()> {
        query(
            "UPDATE settlement_batches SET status = $1, posting_id = $2, settled_at = $3 WHERE settlement_batch_id = $4",
        )
        .bind(b.status.as_str())
        .bind(b.posting_id.as_deref())
        .bind(b.settled_at.map(Timestamp::millis))
        .bind(b.id.as_str())
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
