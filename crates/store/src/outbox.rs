//! The notification outbox and its delivery log.
//!
//! Rows are written inside the transaction that makes their subject final
//! ([`Tx::insert_notification`]). Delivery never holds a row lock across the
//! network: a node claims due rows in one short transaction
//! ([`Store::claim_due_notifications`]), commits, sends, then records the
//! attempt in another ([`Store::record_notification_attempt`]). A claim
//! carries an expiry, so a node that dies mid-delivery leaves its row to be
//! retried by whoever claims it next.

use crate::db::{query, Db, Row};
use crate::{corrupt, get_i64, get_opt_i64, get_opt_str, get_str, Result, Store, Tx};
use backflow_domain::payment::Door;
use backflow_domain::{ClientId, Timestamp};

/// What a notification is about; the subject id names the refund, payment or capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    /// A refund reached SUCCESS or FAIL (`notifyRefund`, legacy `refund_status_sync`).
    RefundResult,
    /// A sandbox payment succeeded (`notifyPayment`).
    PaymentResult,
    /// A capture succeeded (`notifyCapture`).
    CaptureResult,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RefundResult => "REFUND_RESULT",
            Self::PaymentResult => "PAYMENT_RESULT",
            Self::CaptureResult => "CAPTURE_RESULT",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "REFUND_RESULT" => Self::RefundResult,
            "PAYMENT_RESULT" => Self::PaymentResult,
            "CAPTURE_RESULT" => Self::CaptureResult,
            _ => return None,
        })
    }
}

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationStatus {
    /// Owed: waiting for its next attempt, or being delivered under a claim.
    Pending,
    /// The merchant acknowledged it.
    Delivered,
    /// Every scheduled attempt missed.
    GaveUp,
}

impl NotificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Delivered => "DELIVERED",
            Self::GaveUp => "GAVE_UP",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "PENDING" => Self::Pending,
            "DELIVERED" => Self::Delivered,
            "GAVE_UP" => Self::GaveUp,
            _ => return None,
        })
    }
}

/// A notification to write into the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// Also the legacy `notify_id`, so it is chosen before the body is rendered.
    pub id: String,
    pub client_id: ClientId,
    /// The door whose wire format the body is in.
    pub protocol: Door,
    pub kind: NotificationKind,
    pub subject_id: String,
    pub url: String,
    /// The exact text sent on every attempt.
    pub body: String,
    /// Also the time of the first attempt.
    pub created_at: Timestamp,
}

/// A notification as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRow {
    pub id: String,
    pub client_id: ClientId,
    pub protocol: Door,
    pub kind: NotificationKind,
    pub subject_id: String,
    pub url: String,
    pub body: String,
    pub status: NotificationStatus,
    /// Attempts ever started; the latest one is numbered this.
    pub attempts: u32,
    /// Attempts started in the current schedule (a resend starts a new one).
    pub round_attempts: u32,
    pub next_attempt_at: Timestamp,
    /// The node delivering the latest attempt, while its claim lasts.
    pub claim_owner: Option<String>,
    pub claimed_at: Option<Timestamp>,
    pub claim_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

/// One attempt in the delivery log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    pub notification_id: String,
    pub attempt_no: u32,
    pub attempted_at: Timestamp,
    /// `None` when no HTTP answer came.
    pub http_status: Option<u16>,
    /// Wall-clock time from sending to the end of the answer; `None` when unknown.
    pub latency_ms: Option<i64>,
    /// The first 1 KB of the answer.
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

/// Which notifications to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    pub client_id: Option<ClientId>,
    pub status: Option<NotificationStatus>,
    pub limit: u32,
}

/// A claim request: take up to `limit` due rows for `owner` until `expires_at`.
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    pub owner: &'a str,
    pub now: Timestamp,
    pub expires_at: Timestamp,
    pub limit: usize,
    /// Candidates looked at per merchant.
    pub per_merchant_limit: usize,
    /// Merchants whose rows are not to be looked at (they are at their concurrency cap).
    pub skip_merchants: &'a [ClientId],
    /// A row whose claim expired after this many attempts in its schedule is given up.
    pub max_round_attempts: u32,
}

/// How an attempt ended, as far as the row's state is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    Acknowledged,
    /// Missed; the next attempt is due then.
    RetryAt(Timestamp),
    /// Missed, and it was the last attempt of the schedule.
    GiveUp,
}

/// What a resend request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResendOutcome {
    /// A new schedule starts with an attempt due now.
    Scheduled,
    /// An attempt is being delivered under a live claim; ask again when it is recorded.
    InFlight,
    NotFound,
}

const COLUMNS: &str = "notification_id, client_id, protocol, kind, subject_id, url, body, status, attempts, \
    round_attempts, next_attempt_at, claim_owner, claimed_at, claim_expires_at, created_at, delivered_at";

const ATTEMPT_COLUMNS: &str =
    "notification_id, attempt_no, attempted_at, http_status, latency_ms, response_excerpt, error";

fn count(row: &Row, col: &str) -> Result<u32> {
    u32::try_from(get_i64(row, col)?).map_err(corrupt)
}

fn notification_from_row(row: &Row) -> Result<NotificationRow> {
    let protocol = get_str(row, "protocol")?;
    let kind = get_str(row, "kind")?;
    let status = get_str(row, "status")?;
    Ok(NotificationRow {
        id: get_str(row, "notification_id")?,
        client_id: ClientId::parse(get_str(row, "client_id")?).map_err(corrupt)?,
        protocol: Door::parse(&protocol).ok_or_else(|| corrupt(protocol))?,
        kind: NotificationKind::parse(&kind).ok_or_else(|| corrupt(kind))?,
        subject_id: get_str(row, "subject_id")?,
        url: get_str(row, "url")?,
        body: get_str(row, "body")?,
        status: NotificationStatus::parse(&status).ok_or_else(|| corrupt(status))?,
        attempts: count(row, "attempts")?,
        round_attempts: count(row, "round_attempts")?,
        next_attempt_at: Timestamp(get_i64(row, "next_attempt_at")?),
        claim_owner: get_opt_str(row, "claim_owner")?,
        claimed_at: get_opt_i64(row, "claimed_at")?.map(Timestamp),
        claim_expires_at: get_opt_i64(row, "claim_expires_at")?.map(Timestamp),
        created_at: Timestamp(get_i64(row, "created_at")?),
        delivered_at: get_opt_i64(row, "delivered_at")?.map(Timestamp),
    })
}

fn attempt_from_row(row: &Row) -> Result<AttemptRow> {
    Ok(AttemptRow {
        notification_id: get_str(row, "notification_id")?,
        attempt_no: count(row, "attempt_no")?,
        attempted_at: Timestamp(get_i64(row, "attempted_at")?),
        http_status: get_opt_i64(row, "http_status")?
            .map(|s| u16::try_from(s).map_err(corrupt))
            .transpose()?,
        latency_ms: get_opt_i64(row, "latency_ms")?,
        response_excerpt: get_opt_str(row, "response_excerpt")?,
        error: get_opt_str(row, "error")?,
    })
}

/// Writes one attempt into the log. A late result for an attempt already
/// logged as abandoned replaces that entry: what really happened wins.
async fn log_attempt(e: Db<'_>, a: &AttemptRow) -> Result<()> {
    query(&format!(
        "INSERT INTO notification_attempts ({ATTEMPT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (notification_id, attempt_no) DO UPDATE SET attempted_at = excluded.attempted_at, \
         http_status = excluded.http_status, latency_ms = excluded.latency_ms, \
         response_excerpt = excluded.response_excerpt, error = excluded.error"
    ))
    .bind(&a.notification_id)
    .bind(i64::from(a.attempt_no))
    .bind(a.attempted_at.millis())
    .bind(a.http_status.map(i64::from))
    .bind(a.latency_ms)
    .bind(a.response_excerpt.as_deref())
    .bind(a.error.as_deref())
    .execute(e)
    .await?;
    Ok(())
}

impl Store {
    /// One notification by id, e.g. for the legacy `notify_verify` ("was this
    /// notify_id sent to this partner": compare `client_id` and `attempts > 0`).
    pub async fn notification(&self, id: &str) -> Result<Option<NotificationRow>> {
        let row = query(&format!(
            "SELECT {COLUMNS} FROM notifications WHERE notification_id = $1"
        ))
        .bind(id)
        .fetch_optional(self.read())
        .await?;
        row.as_ref().map(notification_from_row).transpose()
    }

    /// Notifications matching `filter`, newest first.
    pub async fn notifications(&self, filter: &NotificationFilter) -> Result<Vec<NotificationRow>> {
        let mut sql = format!("SELECT {COLUMNS} FROM notifications WHERE 1 = 1");
        let mut n = 0;
        if filter.client_id.is_some() {
            n += 1;
            sql.push_str(&format!(" AND client_id = ${n}"));
        }
        if filter.status.is_some() {
            n += 1;
            sql.push_str(&format!(" AND status = ${n}"));
        }
        sql.push_str(&format!(
            " ORDER BY created_at DESC, notification_id DESC LIMIT {}",
            filter.limit
        ));
        let mut select = query(&sql);
        if let Some(c) = &filter.client_id {
            select = select.bind(c.as_str());
        }
        if let Some(s) = filter.status {
            select = select.bind(s.as_str());
        }
        let rows = select.fetch_all(self.read()).await?;
        rows.iter().map(notification_from_row).collect()
    }

    /// The delivery log of one notification, oldest attempt first.
    pub async fn notification_attempts(&self, id: &str) -> Result<Vec<AttemptRow>> {
        let rows = query(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM notification_attempts WHERE notification_id = $1 ORDER BY attempt_no"
        ))
        .bind(id)
        .fetch_all(self.read())
        .await?;
        rows.iter().map(attempt_from_row).collect()
    }

    /// Claims due rows in one short transaction and commits before anything is sent.
    ///
    /// A row is due when it is pending, its next attempt has come and no live
    /// claim holds it. On PostgreSQL the candidates are read `FOR UPDATE SKIP
    /// LOCKED`, so nodes claiming at once take disjoint rows. `admit` decides,
    /// in order, which candidates this node takes (its per-merchant caps).
    /// A candidate whose previous claim expired first gets that attempt logged
    /// as abandoned. The returned rows carry their new attempt number.
    pub async fn claim_due_notifications(
        &self,
        req: &ClaimRequest<'_>,
        mut admit: impl FnMut(&NotificationRow) -> bool,
    ) -> Result<Vec<NotificationRow>> {
        let mut tx = self.begin().await?;
        let skip = if req.skip_merchants.is_empty() {
            String::new()
        } else {
            let marks: Vec<String> = (0..req.skip_merchants.len())
                .map(|i| format!("${}", i + 2))
                .collect();
            format!(" AND client_id NOT IN ({})", marks.join(", "))
        };
        // Due rows, at most `per_merchant_limit` per merchant, so that one
        // merchant's backlog cannot fill the batch. The outer query repeats
        // the due test: on PostgreSQL it is re-checked on rows that another
        // node claimed while this statement ran.
        let due = "status = 'PENDING' AND next_attempt_at <= $1 \
                   AND (claim_expires_at IS NULL OR claim_expires_at <= $1)";
        let sql = format!(
            "SELECT {COLUMNS} FROM notifications WHERE {due} AND notification_id IN (\
             SELECT notification_id FROM (SELECT notification_id, ROW_NUMBER() OVER \
             (PARTITION BY client_id ORDER BY next_attempt_at, notification_id) AS nth \
             FROM notifications WHERE {due}{skip}) ranked WHERE nth <= {}) \
             ORDER BY next_attempt_at, notification_id LIMIT {}{}",
            req.per_merchant_limit,
            req.limit,
            tx.backend.skip_locked_clause()
        );
        let mut select = query(&sql).bind(req.now.millis());
        for m in req.skip_merchants {
            select = select.bind(m.as_str());
        }
        let candidates = select
            .fetch_all(tx.conn())
            .await?
            .iter()
            .map(notification_from_row)
            .collect::<Result<Vec<_>>>()?;
        let mut claimed = Vec::new();
        for mut row in candidates {
            if let (Some(owner), Some(claimed_at)) = (&row.claim_owner, row.claimed_at) {
                tx.abandon_attempt(&row, owner, claimed_at, req).await?;
                if row.round_attempts >= req.max_round_attempts {
                    continue;
                }
            }
            if !admit(&row) {
                continue;
            }
            query(
                "UPDATE notifications SET attempts = attempts + 1, round_attempts = round_attempts + 1, \
                 claim_owner = $1, claimed_at = $2, claim_expires_at = $3 WHERE notification_id = $4",
            )
            .bind(req.owner)
            .bind(req.now.millis())
            .bind(req.expires_at.millis())
            .bind(&row.id)
            .execute(tx.conn())
            .await?;
            row.attempts += 1;
            row.round_attempts += 1;
            row.claim_owner = Some(req.owner.to_owned());
            row.claimed_at = Some(req.now);
            row.claim_expires_at = Some(req.expires_at);
            claimed.push(row);
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records an attempt made under `owner`'s claim, in one short transaction.
    ///
    /// An acknowledgement always marks the row delivered. A miss moves the
    /// schedule only while the claim is still this attempt's: when the claim
    /// expired and another node took the row, that node owns the schedule now.
    pub async fn record_notification_attempt(
        &self,
        owner: &str,
        attempt: &AttemptRow,
        result: AttemptResult,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        log_attempt(tx.conn(), attempt).await?;
        let id = attempt.notification_id.as_str();
        match result {
            AttemptResult::Acknowledged => {
                query(
                    "UPDATE notifications SET status = 'DELIVERED', delivered_at = $1, claim_owner = NULL, \
                     claimed_at = NULL, claim_expires_at = NULL WHERE notification_id = $2 AND status = 'PENDING'",
                )
                .bind(attempt.attempted_at.millis())
                .bind(id)
                .execute(tx.conn())
                .await?;
            }
            AttemptResult::RetryAt(_) | AttemptResult::GiveUp => {
                let (status, next) = match result {
                    AttemptResult::RetryAt(t) => (NotificationStatus::Pending, Some(t.millis())),
                    _ => (NotificationStatus::GaveUp, None),
                };
                query(
                    "UPDATE notifications SET status = $1, next_attempt_at = COALESCE($2, next_attempt_at), \
                     claim_owner = NULL, claimed_at = NULL, claim_expires_at = NULL \
                     WHERE notification_id = $3 AND claim_owner = $4 AND attempts = $5 AND status = 'PENDING'",
                )
                .bind(status.as_str())
                .bind(next)
                .bind(id)
                .bind(owner)
                .bind(i64::from(attempt.attempt_no))
                .execute(tx.conn())
                .await?;
            }
        }
        tx.commit().await
    }

    /// Starts a new schedule for a notification, first attempt due `now`,
    /// whatever its state; refused while an attempt is in flight.
    pub async fn resend_notification(&self, id: &str, now: Timestamp) -> Result<ResendOutcome> {
        let mut tx = self.begin().await?;
        let done = query(
            "UPDATE notifications SET status = 'PENDING', round_attempts = 0, next_attempt_at = $1, \
             delivered_at = NULL WHERE notification_id = $2 AND (claim_expires_at IS NULL OR claim_expires_at <= $1)",
        )
        .bind(now.millis())
        .bind(id)
        .execute(tx.conn())
        .await?;
        let outcome = if done == 1 {
            ResendOutcome::Scheduled
        } else {
            let exists =
                query("SELECT notification_id FROM notifications WHERE notification_id = $1")
                    .bind(id)
                    .fetch_optional(tx.conn())
                    .await?;
            if exists.is_some() {
                ResendOutcome::InFlight
            } else {
                ResendOutcome::NotFound
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }
}

impl Tx {
    /// Writes a notification into the outbox, first attempt due at its creation.
    /// A subject is notified once per kind: writing it again changes nothing
    /// and returns `false`.
    pub async fn insert_notification(&mut self, n: &NewNotification) -> Result<bool> {
        let inserted = query(&format!(
            "INSERT INTO notifications ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, 'PENDING', 0, 0, $8, \
             NULL, NULL, NULL, $8, NULL) ON CONFLICT (client_id, kind, subject_id) DO NOTHING"
        ))
        .bind(&n.id)
        .bind(n.client_id.as_str())
        .bind(n.protocol.as_str())
        .bind(n.kind.as_str())
        .bind(&n.subject_id)
        .bind(&n.url)
        .bind(&n.body)
        .bind(n.created_at.millis())
        .execute(self.conn())
        .await?;
        Ok(inserted == 1)
    }

    /// Sets or clears the merchant's default notification address; `false` when there is no such merchant.
    pub async fn set_merchant_notify_url(
        &mut self,
        client_id: &ClientId,
        url: Option<&str>,
    ) -> Result<bool> {
        let done = query("UPDATE merchants SET notify_url = $1 WHERE client_id = $2")
            .bind(url)
            .bind(client_id.as_str())
            .execute(self.conn())
            .await?;
        Ok(done == 1)
    }

    /// Logs the attempt whose claim expired before its result was recorded,
    /// releases the claim, and gives the row up when that was its last attempt.
    async fn abandon_attempt(
        &mut self,
        row: &NotificationRow,
        owner: &str,
        claimed_at: Timestamp,
        req: &ClaimRequest<'_>,
    ) -> Result<()> {
        query(&format!(
            "INSERT INTO notification_attempts ({ATTEMPT_COLUMNS}) VALUES ($1, $2, $3, NULL, NULL, NULL, $4) \
             ON CONFLICT (notification_id, attempt_no) DO NOTHING"
        ))
        .bind(&row.id)
        .bind(i64::from(row.attempts))
        .bind(claimed_at.millis())
        .bind(format!(
            "abandoned: {owner} did not record a result before its claim expired"
        ))
        .execute(self.conn())
        .await?;
        let status = if row.round_attempts >= req.max_round_attempts {
            NotificationStatus::GaveUp
        } else {
            NotificationStatus::Pending
        };
        query(
            "UPDATE notifications SET status = $1, claim_owner = NULL, claimed_at = NULL, claim_expires_at = NULL \
             WHERE notification_id = $2",
        )
        .bind(status.as_str())
        .bind(&row.id)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
