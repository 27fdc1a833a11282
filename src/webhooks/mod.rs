//! Webhook subscriptions: create, list, read, delete, and the log of delivery attempts.
//! A subscription starts at the head of the change feed, so it receives exactly the events
//! committed after it was created; the `worker` delivers them in feed order. Its secret is
//! returned once, at creation. Deleting a subscription deletes its log and stops
//! deliveries, including one in flight (its outcome is not recorded or retried).
pub mod target;
pub mod worker;

use std::time::Duration;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::{
    auth::Principal,
    catalog::Pending,
    domain::webhook::{Filter, secret_from},
    error::ApiError,
    events,
    store::{
        Db,
        entities::{webhook_deliveries, webhook_subscriptions},
    },
};

pub use webhook_deliveries::Model as DeliveryRow;
pub use webhook_subscriptions::Model as SubscriptionRow;

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
pub const ACTIVE: &str = "active";
pub const PAUSED: &str = "paused";

/// A subscription as asked for (already parsed; the URL not yet checked against DNS).
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub url: String,
    pub filter: Filter,
    pub description: Option<String>,
}

/// The filters of a stored subscription.
pub fn filter_of(row: &SubscriptionRow) -> Filter {
    let list = |v: &serde_json::Value| serde_json::from_value::<Vec<String>>(v.clone()).unwrap_or_default();
    Filter { event_types: list(&row.event_types), data_products: list(&row.data_products) }
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
    let row = webhook_subscriptions::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        url: Set(new.url),
        secret: Set(secret),
        event_types: Set(serde_json::json!(new.filter.event_types)),
        data_products: Set(serde_json::json!(new.filter.data_products)),
        description: Set(new.description),
        status: Set(ACTIVE.to_owned()),
        paused_reason: Set(None),
        cursor: Set(head),
        lease_owner: Set(None),
        lease_until: Set(None),
        next_attempt_at: Set(now),
        attempt: Set(0),
        first_failure_at: Set(None),
        created_at: Set(now),
        created_by: Set(who.sub.clone()),
    }
    .insert(pending.txn())
    .await?;
    Ok(pending.map(|()| row))
}

/// A page of subscriptions in creation order (ids are time-ordered), after the id `after`.
pub async fn list(db: &Db, after: Option<&str>, limit: u64) -> Result<(Vec<SubscriptionRow>, bool), ApiError> {
    let mut select = webhook_subscriptions::Entity::find();
    if let Some(after) = after {
        select = select.filter(webhook_subscriptions::Column::Id.gt(after));
    }
    let mut rows = select.order_by_asc(webhook_subscriptions::Column::Id).limit(limit + 1).all(&db.conn).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("webhook subscription `{id}`"))
}

/// One subscription; 404 when there is none with this id.
pub async fn get(db: &Db, id: &str) -> Result<SubscriptionRow, ApiError> {
    webhook_subscriptions::Entity::find_by_id(id.to_owned()).one(&db.conn).await?.ok_or_else(|| not_found(id))
}

/// Deletes a subscription and its delivery log; 404 when there is none with this id.
pub async fn delete(db: &Db, id: &str) -> Result<Pending<()>, ApiError> {
    let pending = Pending::begin(db, ()).await?;
    let deleted = webhook_subscriptions::Entity::delete_by_id(id.to_owned()).exec(pending.txn()).await?;
    if deleted.rows_affected == 0 {
        return Err(not_found(id));
    }
    // Also without foreign-key enforcement (SQLite with it off), the log goes with it.
    webhook_deliveries::Entity::delete_many()
        .filter(webhook_deliveries::Column::SubscriptionId.eq(id))
        .exec(pending.txn())
        .await?;
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
    let mut select = webhook_deliveries::Entity::find().filter(webhook_deliveries::Column::SubscriptionId.eq(id));
    if let Some(before) = before {
        select = select.filter(webhook_deliveries::Column::Id.lt(before));
    }
    let mut rows = select.order_by_desc(webhook_deliveries::Column::Id).limit(limit + 1).all(&db.conn).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}
