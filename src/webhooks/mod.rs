//! Webhook subscriptions: create, list, read, delete, and the log of delivery attempts.
//! A subscription starts at the head of the change feed, so it receives exactly the events
//! committed after it was created; the `worker` delivers them in feed order. Its secret is
//! returned once, at creation. Deleting a subscription deletes its log and stops
//! deliveries, including one in flight (its outcome is not recorded or retried).
pub mod target;
pub mod worker;

use std::time::Duration;

use chrono::Utc;

pub use crate::store::webhooks::{
    Delivery as DeliveryRow, DeliveryOutcome, Subscription as SubscriptionRow, SubscriptionStatus,
};
use crate::{
    auth::Principal,
    catalog::Pending,
    domain::webhook::{Filter, secret_from},
    error::ApiError,
    events,
    store::{Db, webhooks as store},
};

/// How subscriptions are checked and delivered to (see `config` for the variables).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Allow targets on loopback, link-local and private addresses.
    pub allow_private: bool,
    /// Longest time one delivery may take.
    pub timeout: Duration,
    /// The first retry comes within this long.
    pub retry_base: Duration,
    /// The longest wait between two retries.
    pub retry_max_interval: Duration,
    /// How long one event is retried before the subscription is paused.
    pub retry_for: Duration,
    /// How often the worker looks for due work besides being woken by new events.
    pub poll_interval: Duration,
    /// Subscriptions one replica delivers to at once.
    pub concurrency: usize,
}

/// A subscription's state: `active` delivers, `paused` gave up after retrying for too long.
pub const ACTIVE: SubscriptionStatus = SubscriptionStatus::Active;
pub const PAUSED: SubscriptionStatus = SubscriptionStatus::Paused;

/// A subscription as asked for (already parsed; the URL not yet checked against DNS).
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub url: String,
    pub filter: Filter,
    pub description: Option<String>,
}

/// The filters of a stored subscription.
pub fn filter_of(row: &SubscriptionRow) -> Filter {
    row.filter.clone()
}

fn random_secret() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(anyhow::anyhow!("no randomness for a secret: {e}")))?;
    Ok(secret_from(&bytes))
}

/// Creates a subscription that starts after the newest committed event. The answer
/// (with its secret) is stored with it when the handler commits.
pub async fn create(
    db: &Db,
    settings: &WebhookSettings,
    who: &Principal,
    new: NewSubscription,
) -> Result<Pending<SubscriptionRow>, ApiError> {
    target::check_new(&new.url, settings.allow_private).await?;
    let secret = random_secret()?;
    let pending = Pending::begin(db, ()).await?;
    let now = Utc::now();
    let head = events::head(pending.txn()).await?;
    let subscription = SubscriptionRow {
        id: uuid::Uuid::now_v7().to_string(),
        url: new.url,
        secret,
        filter: new.filter,
        description: new.description,
        status: ACTIVE,
        paused_reason: None,
        cursor: head,
        lease_owner: None,
        lease_until: None,
        next_attempt_at: now,
        attempt: 0,
        first_failure_at: None,
        created_at: now,
        created_by: who.sub.clone(),
    };
    let row = store::insert(pending.txn(), subscription).await?;
    Ok(pending.map(|()| row))
}

/// A page of subscriptions in creation order (ids are time-ordered), after the id `after`.
pub async fn list(db: &Db, after: Option<&str>, limit: u64) -> Result<(Vec<SubscriptionRow>, bool), ApiError> {
    Ok(store::list(&db.conn, after, limit).await?)
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("webhook subscription `{id}`"))
}

/// One subscription; 404 when there is none with this id.
pub async fn get(db: &Db, id: &str) -> Result<SubscriptionRow, ApiError> {
    store::get(&db.conn, id).await?.ok_or_else(|| not_found(id))
}

/// Deletes a subscription and its delivery log; 404 when there is none with this id.
pub async fn delete(db: &Db, id: &str) -> Result<Pending<()>, ApiError> {
    let pending = Pending::begin(db, ()).await?;
    if !store::delete(pending.txn(), id).await? {
        return Err(not_found(id));
    }
    Ok(pending)
}

/// A page of a subscription's delivery attempts, newest first, before the attempt `before`.
pub async fn deliveries(
    db: &Db,
    id: &str,
    before: Option<i64>,
    limit: u64,
) -> Result<(Vec<DeliveryRow>, bool), ApiError> {
    get(db, id).await?;
    Ok(store::deliveries(&db.conn, id, before, limit).await?)
}
