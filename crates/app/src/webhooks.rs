//! Webhook delivery: claims due outbox events, posts them signed, and records every attempt.
//! Delivery state lives in the database, so a restart loses no event and no retry; events of
//! one object go out in order; several processes share the work through claims with leases.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;
use wcheckout_client::signature::{sign_webhook, standard_webhook_signature};
use wcheckout_domain::ids::AppId;
use wcheckout_domain::ports::{
    AttemptOutcome, ClaimLimits, DeliveryAttempt, OutboxEntry, WebhookSender,
};
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::webhook::{self, acknowledged, next_attempt_after_failure};

use crate::error::ServiceError;
use crate::gateway::Gateway;

/// Delivery tuning.
#[derive(Clone, Debug)]
pub struct DeliverySettings {
    /// Seconds before each retry (W Checkout's schedule by default, docs/webhooks.md).
    pub retry_schedule_secs: Vec<i64>,
    /// Longest an attempt may take.
    pub attempt_timeout: Duration,
    /// Deliveries in flight at once in this process.
    pub concurrency: usize,
    /// Deliveries in flight at once to one app, so a slow endpoint cannot hold up the others.
    pub per_app_concurrency: usize,
    /// How often to look for due events when nothing announces new ones.
    pub poll_interval: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            retry_schedule_secs: webhook::RETRY_SCHEDULE_SECS.to_vec(),
            attempt_timeout: Duration::from_secs(webhook::ATTEMPT_TIMEOUT_SECS),
            concurrency: 64,
            per_app_concurrency: 8,
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// Most of a receiver's answer kept in the attempt log.
const EXCERPT_BYTES: usize = 1024;

/// Delivers webhook events.
pub struct WebhookDispatcher {
    gateway: Arc<Gateway>,
    sender: Arc<dyn WebhookSender>,
    settings: DeliverySettings,
    holder: String,
}

/// The headers of one attempt: W Checkout's `SIGNATURE`/`TIMESTAMP` (HMAC-SHA512 over
/// timestamp + body, milliseconds) and the Standard Webhooks trio.
pub fn delivery_headers(
    event_id: &str,
    sign_key: &[u8],
    body: &str,
    now: Timestamp,
) -> Vec<(String, String)> {
    let millis = now.millis().to_string();
    let seconds = now.seconds().to_string();
    vec![
        ("Content-Type".into(), "application/json".into()),
        (
            "SIGNATURE".into(),
            sign_webhook(sign_key, &millis, body.as_bytes()),
        ),
        ("TIMESTAMP".into(), millis),
        ("webhook-id".into(), event_id.to_owned()),
        (
            "webhook-signature".into(),
            standard_webhook_signature(sign_key, event_id, &seconds, body.as_bytes()),
        ),
        ("webhook-timestamp".into(), seconds),
    ]
}

fn excerpt(body: &[u8]) -> Option<String> {
    let cut = &body[..body.len().min(EXCERPT_BYTES)];
    (!cut.is_empty()).then(|| String::from_utf8_lossy(cut).into_owned())
}

/// Frees the slot of an attempt that ended (or panicked).
fn finished(
    done: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
    apps: &mut HashMap<tokio::task::Id, AppId>,
    per_app: &mut HashMap<AppId, usize>,
) {
    let id = match done {
        Ok((id, ())) => id,
        Err(error) => {
            tracing::error!(%error, "a webhook attempt failed unexpectedly");
            error.id()
        }
    };
    if let Some(app) = apps.remove(&id) {
        release(per_app, &app);
    }
}

impl WebhookDispatcher {
    /// A dispatcher posting through `sender`; `holder` names this process in claims.
    pub fn new(
        gateway: Arc<Gateway>,
        sender: Arc<dyn WebhookSender>,
        settings: DeliverySettings,
        holder: String,
    ) -> WebhookDispatcher {
        WebhookDispatcher {
            gateway,
            sender,
            settings,
            holder,
        }
    }

    /// Claims and delivers until `shutdown` turns true, then lets in-flight attempts finish.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut in_flight: JoinSet<()> = JoinSet::new();
        // Which app each attempt is for, by task, so a slot is freed even if an attempt panics.
        let mut apps: HashMap<tokio::task::Id, AppId> = HashMap::new();
        let mut per_app: HashMap<AppId, usize> = HashMap::new();
        while !*shutdown.borrow() {
            let claimed = self.claim(in_flight.len(), &per_app).await;
            for entry in claimed {
                let app = entry.event.app_id.clone();
                *per_app.entry(app.clone()).or_default() += 1;
                let dispatcher = Arc::clone(&self);
                let task = in_flight.spawn(async move { dispatcher.attempt(entry).await });
                apps.insert(task.id(), app);
            }
            tokio::select! {
                Some(done) = in_flight.join_next_with_id(), if !in_flight.is_empty() => {
                    finished(done, &mut apps, &mut per_app);
                    // Every attempt that ended meanwhile frees its slot too, so that the next
                    // claim fills them all at once.
                    while let Some(done) = in_flight.try_join_next_with_id() {
                        finished(done, &mut apps, &mut per_app);
                    }
                }
                () = self.gateway.outbox_signal.notified() => {}
                () = tokio::time::sleep(self.settings.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
        while in_flight.join_next().await.is_some() {}
    }

    /// Claims as many due events as there are free slots, never taking an app past
    /// `per_app_concurrency`: each claim takes from every app at most the smallest headroom
    /// left among the apps in flight, with the full ones skipped, and claims repeat (with the
    /// headrooms recomputed) while they find events and slots are free.
    async fn claim(&self, busy: usize, per_app: &HashMap<AppId, usize>) -> Vec<OutboxEntry> {
        let per_app_limit = self.settings.per_app_concurrency.max(1);
        let mut counts = per_app.clone();
        let mut claimed = Vec::new();
        let now = self.gateway.clock.now();
        // Held long enough for one attempt; if this process dies, another takes over after.
        let lease_micros =
            i64::try_from((self.settings.attempt_timeout * 2).as_micros()).unwrap_or(i64::MAX);
        let lease = Timestamp::from_micros(now.micros().saturating_add(lease_micros));
        loop {
            let free = self
                .settings
                .concurrency
                .saturating_sub(busy.saturating_add(claimed.len()));
            let full = counts
                .iter()
                .filter(|(_, n)| **n >= per_app_limit)
                .map(|(app, _)| app.clone())
                .collect::<Vec<_>>();
            let busiest = counts
                .values()
                .copied()
                .filter(|n| *n < per_app_limit)
                .max()
                .unwrap_or(0);
            let limits = ClaimLimits {
                total: u32::try_from(free).unwrap_or(u32::MAX),
                per_app: u32::try_from(per_app_limit - busiest).unwrap_or(u32::MAX),
            };
            if limits.total == 0 {
                break;
            }
            let batch = match self
                .gateway
                .store
                .claim_due_events(now, lease, &self.holder, limits, &full)
                .await
            {
                Ok(entries) => entries,
                Err(error) => {
                    tracing::warn!(%error, "cannot claim webhook events");
                    break;
                }
            };
            if batch.is_empty() {
                break;
            }
            for entry in batch {
                *counts.entry(entry.event.app_id.clone()).or_default() += 1;
                claimed.push(entry);
            }
        }
        claimed
    }

    /// One attempt at one event, logged, with the delivery moved on.
    pub async fn attempt(&self, entry: OutboxEntry) {
        let started_at = self.gateway.clock.now();
        let timer = Instant::now();
        let number = entry.attempts.saturating_add(1);
        let (url, answer) = match self.post(&entry, started_at).await {
            Ok((url, answer)) => (Some(url), Ok(answer)),
            Err((url, error)) => (url, Err(error)),
        };
        let delivered = answer
            .as_ref()
            .is_ok_and(|a| acknowledged(a.status, &a.body));
        let error = match &answer {
            Ok(_) if delivered => None,
            Ok(a) => Some(format!(
                "receiver answered HTTP {} without acknowledging",
                a.status
            )),
            Err(error) => Some(error.clone()),
        };
        let outcome = if delivered {
            AttemptOutcome::Delivered
        } else {
            let schedule = &self.settings.retry_schedule_secs;
            match next_attempt_after_failure(number, schedule, self.gateway.clock.now()) {
                Some(at) if url.is_some() => AttemptOutcome::RetryAt(at),
                Some(_) | None => AttemptOutcome::GaveUp,
            }
        };
        let attempt = DeliveryAttempt {
            event_id: entry.event.event_id.clone(),
            attempt: number,
            started_at,
            duration_ms: u64::try_from(timer.elapsed().as_millis()).unwrap_or(u64::MAX),
            url,
            http_status: answer.as_ref().ok().map(|a| a.status),
            delivered,
            error,
            response_excerpt: answer.as_ref().ok().and_then(|a| excerpt(&a.body)),
        };
        self.record(&entry, &attempt, outcome).await;
    }

    /// Signs and posts; the error names the URL when one was tried.
    async fn post(
        &self,
        entry: &OutboxEntry,
        now: Timestamp,
    ) -> Result<(String, wcheckout_domain::ports::ReceiverAnswer), (Option<String>, String)> {
        let app = self.gateway.store.app(&entry.event.app_id).await;
        let app = app.map_err(|e| (None, e.to_string()))?;
        let app = app.ok_or_else(|| (None, "the app no longer exists".to_owned()))?;
        let url = app
            .webhook_url
            .clone()
            .ok_or_else(|| (None, "the app has no webhook URL".to_owned()))?;
        let sign_key = self
            .gateway
            .secrets
            .open(app.id.as_str(), &app.sign_key_sealed)
            .map_err(|e| (Some(url.clone()), format!("cannot open the signKey: {e}")))?;
        use secrecy::ExposeSecret;
        let key = sign_key.expose_secret().as_bytes();
        let headers = delivery_headers(&entry.event.event_id, key, &entry.event.body, now);
        let answer = self
            .sender
            .post(
                &url,
                &headers,
                &entry.event.body,
                self.settings.attempt_timeout,
            )
            .await
            .map_err(|e| (Some(url.clone()), e.to_string()))?;
        Ok((url, answer))
    }

    async fn record(
        &self,
        entry: &OutboxEntry,
        attempt: &DeliveryAttempt,
        outcome: AttemptOutcome,
    ) {
        let label = match outcome {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::RetryAt(_) => "retry",
            AttemptOutcome::GaveUp => "failed",
        };
        metrics::counter!("wcheckout_webhook_deliveries_total", "outcome" => label).increment(1);
        #[allow(clippy::cast_precision_loss)] // A histogram is a float by definition.
        metrics::histogram!("wcheckout_webhook_attempt_duration_seconds")
            .record(attempt.duration_ms as f64 / 1000.0);
        if outcome == AttemptOutcome::GaveUp && attempt.url.is_none() {
            // No URL configured (or no app): nothing was sent, nothing to warn about per event.
            tracing::debug!(event = %entry.event.event_id, app = %entry.event.app_id, error = ?attempt.error, "webhook not delivered: no target");
        } else if outcome == AttemptOutcome::GaveUp {
            tracing::warn!(event = %entry.event.event_id, app = %entry.event.app_id, error = ?attempt.error, "webhook delivery failed for good; an operator can resend it");
        } else if !attempt.delivered {
            tracing::info!(event = %entry.event.event_id, attempt = attempt.attempt, error = ?attempt.error, "webhook attempt failed; will retry");
        }
        match self
            .gateway
            .store
            .finish_attempt(&self.holder, attempt, outcome)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(event = %entry.event.event_id, "webhook claim expired during the attempt")
            }
            Err(error) => {
                tracing::error!(event = %entry.event.event_id, %error, "cannot record a webhook attempt")
            }
        }
    }
}

fn release(per_app: &mut HashMap<AppId, usize>, app: &AppId) {
    if let Some(count) = per_app.get_mut(app) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            per_app.remove(app);
        }
    }
}

impl Gateway {
    /// Makes the matching events due again now (operator resend); returns how many.
    pub async fn resend_webhooks(
        &self,
        filter: &wcheckout_domain::ports::OutboxFilter,
        event_id: Option<&str>,
    ) -> Result<u64, ServiceError> {
        let count = self
            .store
            .requeue(filter, event_id, self.clock.now())
            .await?;
        self.outbox_signal.notify_one();
        Ok(count)
    }
}
