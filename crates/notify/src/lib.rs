//! The notifier: delivers the outbox's notifications until the merchant
//! acknowledges them or the schedule is spent.
//!
//! Each round claims due rows in a short transaction (claim owner and expiry,
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL), commits, delivers them with
//! bounded concurrency (globally and per merchant), then records each attempt
//! in a transaction of its own. No row lock is held across an HTTP call. A
//! node that dies mid-delivery leaves a claim that expires; the next node to
//! claim the row logs that attempt as abandoned and tries again.
//!
//! All times come from the engine's clock, so tests drive the schedule with a
//! manual clock and [`Notifier::dispatch_due`].

mod admin;
mod config;
mod deliver;
mod guard;
mod schedule;
mod view;

pub use admin::{filter as list_filter, router as admin_router};
pub use config::NotifierConfig;
pub use deliver::{acknowledgement, EXCERPT_BYTES};
pub use schedule::{next_attempt_after_miss, MAX_ATTEMPTS, RETRY_DELAYS_MS};
pub use view::{AttemptView, NotificationDetail, NotificationView};

use backflow_domain::ClientId;
use backflow_engine::{Engine, EngineError};
use backflow_store::{AttemptResult, AttemptRow, ClaimRequest, NotificationRow};
use deliver::Sender;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

/// The notifier's one error type.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(reqwest::Error),
    #[error("notifier configuration: {0}")]
    Config(String),
}

pub type Result<T, E = NotifyError> = std::result::Result<T, E>;

/// Delivers notifications. Cheap to clone; clones share one pump.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    config: NotifierConfig,
    sender: Sender,
    /// Names this node's claims.
    owner: String,
    /// One pump per process at a time, so `dispatch_due` returns only when
    /// whatever the background loop had in flight is recorded too.
    pump: tokio::sync::Mutex<()>,
}

/// A delivery in flight: which merchant it counts against.
type InFlight = HashMap<tokio::task::Id, ClientId>;

impl Notifier {
    pub fn new(engine: Engine, config: NotifierConfig) -> Result<Self> {
        config.validate()?;
        let sender = Sender::new(&config)?;
        let owner = format!("notifier-{}", backflow_engine::ids::random_token(12));
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                config,
                sender,
                owner,
                pump: tokio::sync::Mutex::new(()),
            }),
        })
    }

    pub fn config(&self) -> &NotifierConfig {
        &self.inner.config
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Delivers everything due at the engine clock's now, including rows that
    /// become due while it runs, and returns once every attempt it started is
    /// recorded. Returns how many attempts it made.
    pub async fn dispatch_due(&self) -> Result<usize> {
        self.pump(None).await
    }

    /// The background loop: pumps every `poll_interval` until `stop` turns
    /// true, then lets the deliveries in flight finish (each is bounded by the
    /// POST timeout) and returns. Without a poll interval it returns at once.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let Some(interval) = self.inner.config.poll_interval else {
            return;
        };
        while !stop_requested(&stop) {
            if let Err(e) = self.pump(Some((&mut stop, interval))).await {
                tracing::warn!(error = %e, "notifier round failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Claims and delivers until nothing due is left unclaimed and nothing is
    /// in flight. With `poll`, it also looks for new rows while deliveries are
    /// slow, and stops claiming once `stop` turns true.
    async fn pump(
        &self,
        mut poll: Option<(&mut watch::Receiver<bool>, Duration)>,
    ) -> Result<usize> {
        let _one_pump = self.inner.pump.lock().await;
        let config = &self.inner.config;
        let mut tasks = JoinSet::new();
        let mut in_flight = InFlight::new();
        let mut attempts = 0;
        let mut failure = None;
        loop {
            let stopping =
                failure.is_some() || poll.as_ref().is_some_and(|(stop, _)| stop_requested(stop));
            let room = config.max_in_flight.saturating_sub(in_flight.len());
            if !stopping && room > 0 {
                match self.claim(room, &in_flight).await {
                    Ok(rows) => {
                        for row in rows {
                            let client = row.client_id.clone();
                            let me = self.clone();
                            // The outbox keeps no request id: the refund (or payment) id is
                            // what ties a delivery's lines to the request that owed it.
                            let span = tracing::info_span!(
                                "notification",
                                notification = %row.id,
                                kind = ?row.kind,
                                subject = %row.subject_id,
                            );
                            let task =
                                tasks.spawn(async move { me.deliver(row).await }.instrument(span));
                            in_flight.insert(task.id(), client);
                        }
                    }
                    Err(e) => failure = Some(e),
                }
            }
            if tasks.is_empty() {
                break;
            }
            let joined = match poll.as_mut() {
                None => tasks.join_next_with_id().await,
                // Once stopping, only the deliveries in flight are awaited.
                Some((stop, interval)) => tokio::select! {
                    joined = tasks.join_next_with_id() => joined,
                    // Slow deliveries must not keep other merchants' new rows waiting.
                    _ = tokio::time::sleep(*interval), if !stopping => continue,
                    _ = stop.changed(), if !stopping => continue,
                },
            };
            let Some(first) = joined else { break };
            // Settle everything already finished, so the next claim takes a batch.
            let mut next = Some(first);
            while let Some(done) = next {
                match done {
                    Ok((id, ())) => {
                        in_flight.remove(&id);
                        attempts += 1;
                    }
                    Err(e) => {
                        in_flight.remove(&e.id());
                        tracing::error!(error = %e, "a notification delivery task failed");
                    }
                }
                next = tasks.try_join_next_with_id();
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(attempts),
        }
    }

    /// Claims up to `room` due rows, at most the per-merchant cap in flight for any merchant.
    async fn claim(&self, room: usize, in_flight: &InFlight) -> Result<Vec<NotificationRow>> {
        let cap = self.inner.config.max_in_flight_per_merchant;
        let mut per_merchant: HashMap<ClientId, usize> = HashMap::new();
        for client in in_flight.values() {
            *per_merchant.entry(client.clone()).or_default() += 1;
        }
        let full: Vec<ClientId> = per_merchant
            .iter()
            .filter(|(_, n)| **n >= cap)
            .map(|(c, _)| c.clone())
            .collect();
        let now = self.inner.engine.clock().now();
        let ttl_ms = i64::try_from(self.inner.config.claim_ttl.as_millis()).unwrap_or(i64::MAX);
        let request = ClaimRequest {
            owner: &self.inner.owner,
            now,
            expires_at: now.plus_millis(ttl_ms),
            limit: room,
            per_merchant_limit: cap,
            skip_merchants: &full,
            max_round_attempts: MAX_ATTEMPTS,
        };
        let rows = self
            .inner
            .engine
            .claim_due_notifications(&request, |row| {
                let n = per_merchant.entry(row.client_id.clone()).or_default();
                let admit = *n < cap;
                if admit {
                    *n += 1;
                }
                admit
            })
            .await?;
        Ok(rows)
    }

    /// One attempt at a claimed row, then its record. A record that fails is
    /// logged; the claim then expires and the attempt counts as abandoned.
    async fn deliver(&self, row: NotificationRow) {
        let engine = &self.inner.engine;
        let now = engine.clock().now();
        let outcome = self.inner.sender.attempt(engine, &row, now).await;
        let result = if outcome.acknowledged {
            AttemptResult::Acknowledged
        } else {
            match next_attempt_after_miss(row.round_attempts, now) {
                Some(at) => AttemptResult::RetryAt(at),
                None => AttemptResult::GiveUp,
            }
        };
        tracing::debug!(notification = %row.id, attempt = row.attempts, ?result, "notification attempt");
        let attempt = AttemptRow {
            notification_id: row.id.clone(),
            attempt_no: row.attempts,
            attempted_at: now,
            http_status: outcome.http_status,
            latency_ms: outcome.latency_ms,
            response_excerpt: outcome.response_excerpt,
            error: outcome.error,
        };
        if let Err(e) = engine
            .record_notification_attempt(&self.inner.owner, &attempt, result)
            .await
        {
            tracing::error!(notification = %row.id, error = %e, "cannot record a notification attempt");
        }
    }
}

/// Whether the server asked the loop to stop (or is gone).
fn stop_requested(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}
