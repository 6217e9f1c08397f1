//! What operators see of notifications: one JSON shape for the admin
//! endpoints and `backflow notifications list --json`.

use backflow_domain::Timestamp;
use backflow_engine::{Engine, Result};
use backflow_store::{AttemptRow, NotificationFilter, NotificationRow};
use serde::Serialize;

/// A notification, without its body.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    pub id: String,
    pub client_id: String,
    pub protocol: &'static str,
    pub kind: &'static str,
    pub subject_id: String,
    pub url: String,
    pub status: &'static str,
    pub attempts: u32,
    /// When the next attempt is due (pending rows only).
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

/// A notification with its body and delivery log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationDetail {
    #[serde(flatten)]
    pub notification: NotificationView,
    pub body: String,
    pub attempt_log: Vec<AttemptView>,
}

/// One attempt of the delivery log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub attempt: u32,
    pub at: String,
    pub http_status: Option<u16>,
    pub latency_ms: Option<i64>,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

fn time(t: Timestamp) -> String {
    t.to_iso8601()
}

impl From<&NotificationRow> for NotificationView {
    fn from(n: &NotificationRow) -> Self {
        let pending = n.status == backflow_store::NotificationStatus::Pending;
        Self {
            id: n.id.clone(),
            client_id: n.client_id.to_string(),
            protocol: n.protocol.as_str(),
            kind: n.kind.as_str(),
            subject_id: n.subject_id.clone(),
            url: n.url.clone(),
            status: n.status.as_str(),
            attempts: n.attempts,
            next_attempt_at: pending.then(|| time(n.next_attempt_at)),
            created_at: time(n.created_at),
            delivered_at: n.delivered_at.map(time),
        }
    }
}

impl From<&AttemptRow> for AttemptView {
    fn from(a: &AttemptRow) -> Self {
        Self {
            attempt: a.attempt_no,
            at: time(a.attempted_at),
            http_status: a.http_status,
            latency_ms: a.latency_ms,
            response_excerpt: a.response_excerpt.clone(),
            error: a.error.clone(),
        }
    }
}

impl NotificationView {
    /// Notifications matching `filter`, newest first.
    pub async fn list(engine: &Engine, filter: &NotificationFilter) -> Result<Vec<Self>> {
        Ok(engine
            .notifications(filter)
            .await?
            .iter()
            .map(Self::from)
            .collect())
    }
}

impl NotificationDetail {
    /// One notification with its log; `None` when there is no such notification.
    pub async fn load(engine: &Engine, id: &str) -> Result<Option<Self>> {
        let Some(row) = engine.notification(id).await? else {
            return Ok(None);
        };
        let attempts = engine.notification_attempts(id).await?;
        Ok(Some(Self {
            notification: NotificationView::from(&row),
            body: row.body,
            attempt_log: attempts.iter().map(AttemptView::from).collect(),
        }))
    }
}
