//! The outbox seen from outside the use cases that fill it: what the
//! notifier claims and records, and what operators list and resend.

use crate::error::Result;
use crate::Engine;
use backflow_domain::Timestamp;
use backflow_store::{
    AttemptResult, AttemptRow, ClaimRequest, NotificationFilter, NotificationRow, ResendOutcome,
};

impl Engine {
    pub async fn notification(&self, id: &str) -> Result<Option<NotificationRow>> {
        Ok(self.store().notification(id).await?)
    }

    /// Notifications matching `filter`, newest first.
    pub async fn notifications(&self, filter: &NotificationFilter) -> Result<Vec<NotificationRow>> {
        Ok(self.store().notifications(filter).await?)
    }

    /// A notification's delivery log, oldest attempt first.
    pub async fn notification_attempts(&self, id: &str) -> Result<Vec<AttemptRow>> {
        Ok(self.store().notification_attempts(id).await?)
    }

    /// Starts a notification's delivery schedule over, with its first attempt
    /// due now; answers with that instant too.
    pub async fn resend_notification(&self, id: &str) -> Result<(ResendOutcome, Timestamp)> {
        let now = self.now();
        Ok((self.store().resend_notification(id, now).await?, now))
    }

    /// Claims due notifications for the notifier; `admit` may pass over a row.
    pub async fn claim_due_notifications(
        &self,
        request: &ClaimRequest<'_>,
        admit: impl FnMut(&NotificationRow) -> bool,
    ) -> Result<Vec<NotificationRow>> {
        Ok(self.store().claim_due_notifications(request, admit).await?)
    }

    /// Records one delivery attempt of a claimed notification and what follows from it.
    pub async fn record_notification_attempt(
        &self,
        owner: &str,
        attempt: &AttemptRow,
        result: AttemptResult,
    ) -> Result<()> {
        Ok(self
            .store()
            .record_notification_attempt(owner, attempt, result)
            .await?)
    }
}
