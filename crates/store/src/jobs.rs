//! Durable jobs: work the engine owes later (completing async refunds,
//! retrying refunds waiting for funds, reversals). Claimed by one node at a
//! time with an expiring claim, so a node that dies mid-job leaves it to others.

use crate::db::query;
use crate::{get_i64, get_str, Result, Store, Tx};
use backflow_domain::Timestamp;

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub subject: String,
    pub payload: String,
    pub run_at: Timestamp,
    pub attempts: i64,
}

impl Tx {
    pub async fn insert_job(
        &mut self,
        id: &str,
        kind: &str,
        subject: &str,
        payload: &str,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        query(
            "INSERT INTO jobs (job_id, kind, subject, payload, run_at, attempts, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6)",
        )
        .bind(id)
        .bind(kind)
        .bind(subject)
        .bind(payload)
        .bind(run_at.millis())
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Ends a job; call it in the transaction that did its work.
    pub async fn finish_job(&mut self, id: &str) -> Result<()> {
        query("DELETE FROM jobs WHERE job_id = $1")
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Runs a job again at `run_at`, releasing its claim.
    pub async fn reschedule_job(&mut self, id: &str, run_at: Timestamp) -> Result<()> {
        query("UPDATE jobs SET run_at = $1, attempts = attempts + 1, claimed_by = NULL, claim_expires_at = NULL WHERE job_id = $2")
            .bind(run_at.millis())
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

impl Store {
    /// Claims up to `limit` jobs due at `now` for `owner` until `now + claim_ms`,
    /// in a transaction of its own that holds no lock afterwards.
    pub async fn claim_due_jobs(
        &self,
        owner: &str,
        now: Timestamp,
        claim_ms: i64,
        limit: i64,
    ) -> Result<Vec<Job>> {
        let mut tx = self.begin().await?;
        let skip_locked = self.backend.skip_locked_clause();
        let rows = query(&format!(
            "SELECT job_id, kind, subject, payload, run_at, attempts FROM jobs \
             WHERE run_at <= $1 AND (claimed_by IS NULL OR claim_expires_at < $1) ORDER BY run_at LIMIT $2{skip_locked}"
        ))
        .bind(now.millis())
        .bind(limit)
        .fetch_all(tx.conn())
        .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for row in &rows {
            let job = Job {
                id: get_str(row, "job_id")?,
                kind: get_str(row, "kind")?,
                subject: get_str(row, "subject")?,
                payload: get_str(row, "payload")?,
                run_at: Timestamp(get_i64(row, "run_at")?),
                attempts: get_i64(row, "attempts")?,
            };
            query("UPDATE jobs SET claimed_by = $1, claim_expires_at = $2 WHERE job_id = $3")
                .bind(owner)
                .bind(now.millis() + claim_ms)
                .bind(&job.id)
                .execute(tx.conn())
                .await?;
            jobs.push(job);
        }
        tx.commit().await?;
        Ok(jobs)
    }

    /// Jobs not yet done, for operators and tests.
    pub async fn pending_job_count(&self) -> Result<i64> {
        let row = query("SELECT COUNT(*) AS n FROM jobs")
            .fetch_one(self.read())
            .await?;
        get_i64(&row, "n")
    }
}
