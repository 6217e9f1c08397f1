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

impl Engine {
    /// Runs every job due now, each in its own transaction. Returns how many ran.
    /// A job that fails stays claimed until its claim expires, then runs again.
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
                    Err(e) => {
                        tracing::warn!(job = %job.id, kind = %job.kind, error = %e, "job failed; it will be retried")
                    }
                }
            }
        }
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
