//! Durable jobs: work the engine owes later (completing async refunds,
//! retrying refunds waiting for funds, reversals). Claimed by one node at a
//! time with an expiring claim, so a node that dies mid-job leaves it to others.
//! A job that keeps failing ends dead, run again only when an operator says so.

use crate::db::{query, Row};
use crate::{get_i64, get_opt_str, get_str, Inserted, Result, Store, Tx};
use backflow_domain::Timestamp;

/// A job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub subject: String,
    pub payload: String,
    pub run_at: Timestamp,
    /// Runs that asked to run again later (a refund still waiting for funds).
    pub attempts: i64,
    /// Runs in a row that failed.
    pub failures: i64,
    /// Failed too often: no node runs it until it is retried.
    pub dead: bool,
    pub last_error: Option<String>,
}

const JOB_COLUMNS: &str =
    "job_id, kind, subject, payload, run_at, attempts, failures, status, last_error";

fn job_from_row(row: &Row) -> Result<Job> {
    Ok(Job {
        id: get_str(row, "job_id")?,
        kind: get_str(row, "kind")?,
        subject: get_str(row, "subject")?,
        payload: get_str(row, "payload")?,
        run_at: Timestamp(get_i64(row, "run_at")?),
        attempts: get_i64(row, "attempts")?,
        failures: get_i64(row, "failures")?,
        dead: get_str(row, "status")? == "DEAD",
        last_error: get_opt_str(row, "last_error")?,
    })
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
    ) -> Result<Inserted> {
        let changed = query(
            "INSERT INTO jobs (job_id, kind, subject, payload, run_at, attempts, status, failures, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, 'PENDING', 0, $6) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(kind)
        .bind(subject)
        .bind(payload)
        .bind(run_at.millis())
        .bind(now.millis())
        .execute(self.conn())
        .await?;
        Ok(Inserted::from_changed(changed))
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
        query("UPDATE jobs SET run_at = $1, attempts = attempts + 1, failures = 0, last_error = NULL, \
               claimed_by = NULL, claim_expires_at = NULL WHERE job_id = $2")
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
            "SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'PENDING' AND run_at <= $1 \
             AND (claimed_by IS NULL OR claim_expires_at < $1) ORDER BY run_at LIMIT $2{skip_locked}"
        ))
        .bind(now.millis())
        .bind(limit)
        .fetch_all(tx.conn())
        .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for row in &rows {
            let job = job_from_row(row)?;
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

    /// Records that `owner`'s run of a job failed with `error`: it runs again
    /// at `again`, or never (`None`: it is dead). A claim taken over by
    /// another node meanwhile is left alone.
    pub async fn fail_job(
        &self,
        id: &str,
        owner: &str,
        error: &str,
        again: Option<Timestamp>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        query(
            "UPDATE jobs SET failures = failures + 1, last_error = $1, status = $2, run_at = COALESCE($3, run_at), \
             claimed_by = NULL, claim_expires_at = NULL WHERE job_id = $4 AND claimed_by = $5",
        )
        .bind(error)
        .bind(if again.is_some() { "PENDING" } else { "DEAD" })
        .bind(again.map(Timestamp::millis))
        .bind(id)
        .bind(owner)
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    /// Every job not yet done (only the dead ones when `dead`), oldest first.
    pub async fn jobs(&self, dead: bool) -> Result<Vec<Job>> {
        let rows = query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE ($1 = 0 OR status = 'DEAD') ORDER BY created_at, job_id"
        ))
        .bind(i64::from(dead))
        .fetch_all(self.read())
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Brings a dead job back to run at `now`, with its failures forgotten;
    /// false when there is no such dead job.
    pub async fn retry_dead_job(&self, id: &str, now: Timestamp) -> Result<bool> {
        let mut tx = self.begin().await?;
        let changed = query(
            "UPDATE jobs SET status = 'PENDING', failures = 0, run_at = $1, claimed_by = NULL, claim_expires_at = NULL \
             WHERE job_id = $2 AND status = 'DEAD'",
        )
        .bind(now.millis())
        .bind(id)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// Jobs not yet done, for operators and tests.
    pub async fn pending_job_count(&self) -> Result<i64> {
        let row = query("SELECT COUNT(*) AS n FROM jobs")
            .fetch_one(self.read())
            .await?;
        get_i64(&row, "n")
    }
}
