//! Counts an operator watches: what is waiting, and for how long.

use crate::db::query;
use crate::{get_i64, get_opt_i64, get_str, Result, Store};
use backflow_domain::Timestamp;

/// One scrape's worth of state, read in a few grouped queries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Refunds per stored status (`PROCESSING`, `WAITING_FUNDS`, `SUCCESS`, `FAIL`, …).
    pub refunds_by_status: Vec<(String, i64)>,
    /// Notifications per outbox status (`PENDING`, `DELIVERED`, `GAVE_UP`).
    pub notifications_by_status: Vec<(String, i64)>,
    /// When the oldest pending notification was created.
    pub oldest_pending_notification: Option<Timestamp>,
    /// Scheduler jobs whose time has come.
    pub jobs_due: i64,
    /// Due jobs more than `LATE_AFTER_MS` past their time.
    pub jobs_late: i64,
    /// PostgreSQL's pool: connections open, and of those in use.
    pub pool: Option<PoolGauges>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolGauges {
    pub open: u32,
    pub in_use: u32,
}

/// A job this far past its time is late: the scheduler passes every second.
pub const LATE_AFTER_MS: i64 = 60_000;

impl Store {
    pub async fn gauges(&self, now: Timestamp) -> Result<Gauges> {
        let counts = |sql: &'static str| async move {
            let rows = query(sql).fetch_all(self.read()).await?;
            rows.iter()
                .map(|r| Ok((get_str(r, "status")?, get_i64(r, "n")?)))
                .collect::<Result<Vec<_>>>()
        };
        let refunds_by_status =
            counts("SELECT status, COUNT(*) AS n FROM refunds GROUP BY status ORDER BY status")
                .await?;
        let notifications_by_status = counts(
            "SELECT status, COUNT(*) AS n FROM notifications GROUP BY status ORDER BY status",
        )
        .await?;
        let oldest =
            query("SELECT MIN(created_at) AS oldest FROM notifications WHERE status = 'PENDING'")
                .fetch_one(self.read())
                .await?;
        let jobs = query(
            "SELECT COUNT(*) AS due, CAST(COALESCE(SUM(CASE WHEN run_at < $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS late \
             FROM jobs WHERE run_at <= $1",
        )
        .bind(now.millis())
        .bind(now.millis() - LATE_AFTER_MS)
        .fetch_one(self.read())
        .await?;
        Ok(Gauges {
            refunds_by_status,
            notifications_by_status,
            oldest_pending_notification: get_opt_i64(&oldest, "oldest")?.map(Timestamp),
            jobs_due: get_i64(&jobs, "due")?,
            jobs_late: get_i64(&jobs, "late")?,
            pool: self.pool_gauges(),
        })
    }
}
