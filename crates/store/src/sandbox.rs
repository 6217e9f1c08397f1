//! Scripted outcomes for sandbox merchants' next refunds.

use crate::db::query;
use crate::{get_str, Result, Tx};
use backflow_domain::{ClientId, Timestamp};

impl Tx {
    pub async fn push_sandbox_script(
        &mut self,
        id: &str,
        merchant: &ClientId,
        outcome: &str,
        now: Timestamp,
    ) -> Result<()> {
        query(
            "INSERT INTO sandbox_scripts (script_id, client_id, seq, outcome, created_at) \
             VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM sandbox_scripts WHERE client_id = $2), $3, $4)",
        )
            .bind(id)
            .bind(merchant.as_str())
            .bind(outcome)
            .bind(now.millis())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Takes the merchant's oldest scripted outcome, if any.
    pub async fn take_sandbox_script(&mut self, merchant: &ClientId) -> Result<Option<String>> {
        let row = query(
            "SELECT script_id, outcome FROM sandbox_scripts WHERE client_id = $1 ORDER BY seq LIMIT 1",
        )
        .bind(merchant.as_str())
        .fetch_optional(self.conn())
        .await?;
        let Some(row) = row else { return Ok(None) };
        query("DELETE FROM sandbox_scripts WHERE script_id = $1")
            .bind(get_str(&row, "script_id")?)
            .execute(self.conn())
            .await?;
        Ok(Some(get_str(&row, "outcome")?))
    }
}
