//! The durable scheduler: jobs live in the database, are claimed with an
//! expiring claim by one node at a time, and run on the engine's clock.

use crate::channels::Settle;
use crate::error::{EngineError, Result};
use crate::refunds::{COMPLETE_REFUND, FUNDS_RETRY_MS, RETRY_FUNDS, REVERSE_REFUND};
use crate::reports::CLOSE_DAY;
use crate::Engine;
use backflow_domain::RefundId;
use backflow_store::{Job, StoreError};

/// How long a claim lasts; a node that dies mid-job leaves it to others after this.
const CLAIM_MS: i64 = 60_000;
const BATCH: i64 = 100;
/// Failed runs in a row after which a job is dead.
pub const MAX_JOB_FAILURES: i64 = 10;
/// The wait after a job's first failure; it doubles with each next one, up to [`MAX_BACKOFF_MS`].
const FIRST_BACKOFF_MS: i64 = 60_000;
const MAX_BACKOFF_MS: i64 = 3_600_000;
/// How much of a failure's message a job keeps.
const ERROR_CHARS: usize = 1_000;

/// How long a job waits after its `failures`-th failure in a row (the first is 1).
pub fn job_backoff_ms(failures: i64) -> i64 {
    let doublings = u32::try_from(failures.saturating_sub(1)).unwrap_or(u32::MAX);
    FIRST_BACKOFF_MS
        .saturating_mul(2_i64.saturating_pow(doublings))
        .min(MAX_BACKOFF_MS)
}

impl Engine {
    /// Runs every job due now, each in its own transaction. Returns how many ran.
    /// A job that fails runs again after a backoff, and is dead after
    /// [`MAX_JOB_FAILURES`] failures in a row.
    pub async fn run_due_jobs(&self) -> Result<usize> {
        let mut ran = 0;
        loop {
            let jobs = self
                .store()
                .claim_due_jobs(&self.inner.node_id, self.now(), CLAIM_MS, BATCH)
                .await?;
            if jobs.is_empty() {
                return Ok(ran);
            }
            for job in &jobs {
                match self.run_job(job).await {
                    Ok(()) => ran += 1,
                    Err(e) => self.job_failed(job, &e).await?,
                }
            }
        }
    }

    /// Records a failed run: the job runs again after its backoff, or is dead.
    async fn job_failed(&self, job: &Job, error: &EngineError) -> Result<()> {
        let failures = job.failures + 1;
        let again =
            (failures < MAX_JOB_FAILURES).then(|| self.now().plus_millis(job_backoff_ms(failures)));
        match again {
            Some(at) => {
                tracing::warn!(job = %job.id, kind = %job.kind, error = %error, failures, retry_at = %at.to_iso8601(), "job failed")
            }
            None => {
                tracing::error!(job = %job.id, kind = %job.kind, error = %error, failures, "job failed too often: it is dead until retried")
            }
        }
        let message: String = error.to_string().chars().take(ERROR_CHARS).collect();
        self.store()
            .fail_job(&job.id, &self.inner.node_id, &message, again)
            .await?;
        Ok(())
    }

    /// Jobs not yet done, or only the dead ones.
    pub async fn jobs(&self, dead: bool) -> Result<Vec<Job>> {
        Ok(self.store().jobs(dead).await?)
    }

    /// Runs a dead job again now; false when there is no such dead job.
    pub async fn retry_dead_job(&self, id: &str) -> Result<bool> {
        Ok(self.store().retry_dead_job(id, self.now()).await?)
    }

    async fn run_job(&self, job: &Job) -> Result<()> {
        if job.kind == CLOSE_DAY {
            return self.close_day(job).await;
        }
        let refund_id = RefundId::parse(job.subject.clone())
            .map_err(|e| EngineError::Store(StoreError::Corrupt(e.to_string())))?;
        let mut tx = self.store().begin().await?;
        let again = match job.kind.as_str() {
            COMPLETE_REFUND => {
                let plan = Settle::decode(&job.payload).ok_or_else(|| {
                    EngineError::Store(StoreError::Corrupt(format!(
                        "job {} plan {:?}",
                        job.id, job.payload
                    )))
                })?;
                self.complete_refund(&mut tx, &refund_id, plan).await?;
                false
            }
            RETRY_FUNDS => self.retry_funds(&mut tx, &refund_id).await?,
            REVERSE_REFUND => {
                self.reverse_refund(&mut tx, &refund_id).await?;
                false
            }
            other => {
                return Err(EngineError::Store(StoreError::Corrupt(format!(
                    "unknown job kind {other:?}"
                ))))
            }
        };
        if again {
            tx.reschedule_job(&job.id, self.now().plus_millis(FUNDS_RETRY_MS))
                .await?;
        } else {
            tx.finish_job(&job.id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Runs due jobs every `every` until `shutdown`, for the server.
    pub async fn run_scheduler(
        &self,
        every: std::time::Duration,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut shutdown = shutdown;
        if let Err(e) = self.plan_day_close().await {
            tracing::warn!(error = %e, "cannot plan the day's close");
        }
        loop {
            if let Err(e) = self.run_due_jobs().await {
                tracing::warn!(error = %e, "scheduler pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
