//! The delivery worker, inside `daap serve` on every replica. The change feed is the one
//! source of truth: a subscription's `cursor` says which events it is done with, and the
//! worker reads the feed after it.
//!
//! - Leasing: a replica takes a due subscription by setting `lease_owner`/`lease_until`
//!   in one conditional UPDATE (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one
//!   writer), and every later write is conditioned on still holding the lease. So no two
//!   replicas deliver one subscription's events at once, and a crashed replica's lease
//!   simply runs out.
//! - Order: one subscription's events go one at a time, in feed order; a failing event is
//!   retried (first within the base delay, then doubling with jitter up to the maximum
//!   interval) and holds back the ones after it. After `retry_for` the subscription is
//!   paused with the reason. At least once: the cursor moves only after a 2xx.
//! - Promptness: the worker wakes when events commit (the feed notifier, which on
//!   PostgreSQL also hears other replicas), when a delivery task ends, when the next retry
//!   is due, and at least every poll interval.
use std::{sync::Arc, time::Duration};

use chrono::Utc;
use tokio::{sync::watch, task::JoinSet};

use super::{DeliveryOutcome, DeliveryRow, PAUSED, SubscriptionRow, WebhookSettings, target};
use crate::{
    domain::webhook::{retry_delay, sign},
    events::{self, EventRow, FeedQuery},
    metrics::Metrics,
    store::{Db, DbErr, webhooks as store},
};

/// Events read from the feed at once while looking for a subscription's next match.
const BATCH: u64 = 200;

struct Worker {
    db: Db,
    settings: WebhookSettings,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
    /// This process's lease owner id.
    owner: String,
}

/// What one delivery attempt came to.
struct Attempt {
    succeeded: bool,
    response_status: Option<u16>,
    latency_ms: i64,
    error: Option<String>,
}

/// Starts the worker; it stops (releasing its leases) once `stop` turns true.
pub fn spawn(
    db: Db,
    settings: WebhookSettings,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .user_agent(concat!("daap-webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(target::GuardedResolver { allow_private: settings.allow_private }))
        .build()?;
    let worker = Arc::new(Worker { db, settings, metrics, client, owner: uuid::Uuid::new_v4().to_string() });
    Ok(tokio::spawn(worker.run(stop)))
}

impl Worker {
    async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut feed = self.db.feed.subscribe();
        let mut tasks: JoinSet<()> = JoinSet::new();
        loop {
            if *stop.borrow_and_update() {
                break;
            }
            feed.borrow_and_update();
            let free = self.settings.concurrency.saturating_sub(tasks.len());
            if free > 0 {
                match self.lease(free as u64).await {
                    Ok(subs) => {
                        for sub in subs {
                            tasks.spawn(self.clone().serve(sub));
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "webhook worker cannot lease subscriptions"),
                }
            }
            let nap = self.next_due().await.unwrap_or(self.settings.poll_interval);
            tokio::select! {
                // The sender gone (the server future dropped) means stop too.
                changed = stop.changed() => if changed.is_err() { break },
                _ = feed.changed() => {},
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {},
                _ = tokio::time::sleep(nap) => {},
            }
        }
        // Let deliveries in flight finish briefly; what remains is retried after its lease.
        let grace = self.settings.timeout.min(Duration::from_secs(5));
        let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        tasks.abort_all();
        if let Err(err) = self.release_all().await {
            tracing::warn!(error = %err, "webhook worker cannot release its leases");
        }
    }

    /// How long a lease lasts: long enough for a delivery and its bookkeeping.
    fn lease_for(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.timeout + Duration::from_secs(30)).unwrap_or(chrono::Duration::MAX)
    }

    /// Takes up to `n` due, unleased, active subscriptions that have events to look at.
    async fn lease(&self, n: u64) -> Result<Vec<SubscriptionRow>, DbErr> {
        let now = Utc::now();
        store::lease(&self.db, &self.owner, now, now + self.lease_for(), n).await
    }

    /// Time until the earliest retry is due (bounded by the poll interval).
    async fn next_due(&self) -> Option<Duration> {
        // Subscriptions waiting for a retry; the others are woken by new events.
        let due = store::next_due(&self.db.conn, Utc::now()).await.ok()??;
        let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        Some(wait.clamp(Duration::from_millis(20), self.settings.poll_interval))
    }

    /// Hands back every lease this process holds (at shutdown).
    async fn release_all(&self) -> Result<(), DbErr> {
        store::release_all(&self.db, &self.owner).await
    }

    /// Delivers a leased subscription's events until it is caught up, an attempt fails, or
    /// the lease is lost (the subscription was deleted).
    async fn serve(self: Arc<Self>, mut sub: SubscriptionRow) {
        let filter = sub.filter.clone();
        loop {
            let query = FeedQuery { after: sub.cursor, limit: BATCH, ..Default::default() };
            let batch = match events::read(&self.db.conn, &query).await {
                Ok(batch) => batch,
                Err(err) => {
                    tracing::warn!(error = %err, subscription = %sub.id, "webhook worker cannot read the feed");
                    let _ = self.release(&sub).await;
                    return;
                }
            };
            if batch.is_empty() {
                let _ = self.release(&sub).await;
                return;
            }
            let mut skipped_to = sub.cursor;
            let mut head = None;
            for event in batch {
                if filter.matches(&event.event_type, &event.data_product) {
                    head = Some(event);
                    break;
                }
                skipped_to = event.seq;
            }
            let Some(event) = head else {
                match self.advance(&sub, skipped_to).await {
                    Ok(true) => sub.cursor = skipped_to,
                    _ => return,
                }
                continue;
            };
            // The event may have committed after the subscription was deleted (or its lease
            // taken over) while this worker held it in memory: such an event must not go out.
            match store::held(&self.db.conn, &sub.id, &self.owner).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(err) => {
                    tracing::warn!(error = %err, subscription = %sub.id, "webhook worker cannot check its lease");
                    let _ = self.release(&sub).await;
                    return;
                }
            }
            let attempt = self.deliver(&sub, &event).await;
            self.metrics.webhook_delivered(attempt.succeeded);
            let next = match self.record(&sub, &event, &attempt).await {
                Ok(next) => next,
                Err(err) => {
                    tracing::warn!(error = %err, subscription = %sub.id, "webhook worker cannot record a delivery");
                    let _ = self.release(&sub).await;
                    return;
                }
            };
            match next {
                Some(row) => sub = row,
                None => return,
            }
        }
    }

    /// Moves the cursor past events the subscription does not want; false if the lease is gone.
    async fn advance(&self, sub: &SubscriptionRow, cursor: i64) -> Result<bool, DbErr> {
        store::advance(&self.db, &sub.id, &self.owner, cursor, Utc::now() + self.lease_for()).await
    }

    /// Gives the lease back.
    async fn release(&self, sub: &SubscriptionRow) -> Result<(), DbErr> {
        store::release(&self.db, &sub.id, &self.owner).await
    }

    /// One signed POST of `event` to the subscription's URL.
    async fn deliver(&self, sub: &SubscriptionRow, event: &EventRow) -> Attempt {
        let started = std::time::Instant::now();
        let outcome = self.post(sub, event).await;
        let latency_ms = started.elapsed().as_millis() as i64;
        match outcome {
            Ok(status) if (200..300).contains(&status) => {
                Attempt { succeeded: true, response_status: Some(status), latency_ms, error: None }
            }
            Ok(status) => Attempt {
                succeeded: false,
                response_status: Some(status),
                latency_ms,
                error: Some(format!("the receiver answered {status}")),
            },
            Err(error) => Attempt { succeeded: false, response_status: None, latency_ms, error: Some(error) },
        }
    }

    async fn post(&self, sub: &SubscriptionRow, event: &EventRow) -> Result<u16, String> {
        let url = target::parse(&sub.url)?;
        if !self.settings.allow_private {
            // Host names are checked by the client's resolver, on the addresses it connects to.
            target::check_literal(&url)?;
        }
        let body = serde_json::to_vec(&events::wire(event)).map_err(|e| format!("cannot encode the event: {e}"))?;
        let timestamp = Utc::now().timestamp();
        let signature =
            sign(&sub.secret, &event.id, timestamp, &body).ok_or("the subscription's secret is unusable")?;
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| describe(&e, self.settings.timeout))?;
        Ok(response.status().as_u16())
    }

    /// Records an attempt and moves the subscription on: past the event after a success,
    /// to a later retry (or `paused`) after a failure. `None` when the subscription is no
    /// longer this worker's to serve (deleted, lease lost, failed or paused).
    async fn record(
        &self,
        sub: &SubscriptionRow,
        event: &EventRow,
        attempt: &Attempt,
    ) -> Result<Option<SubscriptionRow>, DbErr> {
        let now = Utc::now();
        let number = sub.attempt + 1;
        let mut next = sub.clone();
        if attempt.succeeded {
            next.cursor = event.seq;
            next.attempt = 0;
            next.first_failure_at = None;
            next.next_attempt_at = now;
            next.lease_until = Some(now + self.lease_for());
        } else {
            let first = sub.first_failure_at.unwrap_or(now);
            next.attempt = number;
            next.first_failure_at = Some(first);
            next.lease_owner = None;
            next.lease_until = None;
            let retried_for = (now - first).to_std().unwrap_or(Duration::ZERO);
            if retried_for >= self.settings.retry_for {
                next.status = PAUSED;
                next.paused_reason = Some(format!(
                    "event {} could not be delivered in {} attempts over {} s; the last attempt failed: {}",
                    event.id,
                    number,
                    retried_for.as_secs(),
                    attempt.error.as_deref().unwrap_or("unknown error")
                ));
            } else {
                let delay =
                    retry_delay(number as u32, self.settings.retry_base, self.settings.retry_max_interval, jitter());
                next.next_attempt_at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
            }
        }
        let delivery = DeliveryRow {
            id: 0,
            subscription_id: sub.id.clone(),
            event_id: event.id.clone(),
            event_seq: event.seq,
            attempt: number,
            outcome: if attempt.succeeded { DeliveryOutcome::Succeeded } else { DeliveryOutcome::Failed },
            response_status: attempt.response_status.map(i32::from),
            latency_ms: attempt.latency_ms,
            error: attempt.error.clone(),
            attempted_at: now,
        };
        if !store::record(&self.db, &self.owner, &next, delivery).await? {
            // Deleted (or the lease ran out and another replica took over): say nothing more.
            return Ok(None);
        }
        if next.status == PAUSED {
            tracing::warn!(subscription = %sub.id, reason = ?next.paused_reason, "webhook subscription paused");
        }
        Ok(attempt.succeeded.then_some(next))
    }
}

/// A uniform number in `[0, 1)`.
fn jitter() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// What went wrong with a request, for the delivery log (no secrets in it).
fn describe(err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        return format!("timed out after {} ms", timeout.as_millis());
    }
    let mut text = if err.is_connect() { "cannot connect".to_owned() } else { "request failed".to_owned() };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
