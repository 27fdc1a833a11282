//! Webhook subscriptions and their delivery log as stored. A delivery worker holds a
//! subscription by lease (`lease_owner`, `lease_until`), taken in one conditional UPDATE
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer), and every later write
//! of the worker is conditioned on still holding it, so a deleted subscription or a lost
//! lease makes the write a no-op.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::NotSet,
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, DeriveActiveEnum, EntityTrait, EnumIter, FromQueryResult,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Statement, Value,
    sea_query::{Expr, ExprTrait as _, StringLen},
};

use super::{
    Db,
    entities::{webhook_deliveries as deliveries, webhook_subscriptions as subscriptions},
    tx::{Autocommit, Write},
};
use crate::domain::webhook::Filter;

/// A subscription's state: `active` delivers, `paused` gave up after retrying for too long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum SubscriptionStatus {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "paused")]
    Paused,
}

impl SubscriptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
        }
    }
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    /// Anything else.
    #[sea_orm(string_value = "failed")]
    Failed,
}

/// A webhook subscription and where its delivery stands in the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: String,
    pub url: String,
    pub secret: String,
    pub filter: Filter,
    pub description: Option<String>,
    pub status: SubscriptionStatus,
    pub paused_reason: Option<String>,
    /// The `seq` of the last event it is done with.
    pub cursor: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
    /// Failed attempts at the event after `cursor`.
    pub attempt: i32,
    pub first_failure_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl From<subscriptions::Model> for Subscription {
    fn from(row: subscriptions::Model) -> Subscription {
        let list = |v: serde_json::Value| serde_json::from_value::<Vec<String>>(v).unwrap_or_default();
        Subscription {
            id: row.id,
            url: row.url,
            secret: row.secret,
            filter: Filter { event_types: list(row.event_types), data_products: list(row.data_products) },
            description: row.description,
            status: row.status,
            paused_reason: row.paused_reason,
            cursor: row.cursor,
            lease_owner: row.lease_owner,
            lease_until: row.lease_until,
            next_attempt_at: row.next_attempt_at,
            attempt: row.attempt,
            first_failure_at: row.first_failure_at,
            created_at: row.created_at,
            created_by: row.created_by,
        }
    }
}

impl From<Subscription> for subscriptions::Model {
    fn from(s: Subscription) -> subscriptions::Model {
        subscriptions::Model {
            id: s.id,
            url: s.url,
            secret: s.secret,
            event_types: serde_json::json!(s.filter.event_types),
            data_products: serde_json::json!(s.filter.data_products),
            description: s.description,
            status: s.status,
            paused_reason: s.paused_reason,
            cursor: s.cursor,
            lease_owner: s.lease_owner,
            lease_until: s.lease_until,
            next_attempt_at: s.next_attempt_at,
            attempt: s.attempt,
            first_failure_at: s.first_failure_at,
            created_at: s.created_at,
            created_by: s.created_by,
        }
    }
}

/// One delivery attempt of one event to one subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Its position in the log (0 before it is stored).
    pub id: i64,
    pub subscription_id: String,
    pub event_id: String,
    pub event_seq: i64,
    pub attempt: i32,
    pub outcome: DeliveryOutcome,
    pub response_status: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub attempted_at: DateTime<Utc>,
}

impl From<deliveries::Model> for Delivery {
    fn from(row: deliveries::Model) -> Delivery {
        Delivery {
            id: row.id,
            subscription_id: row.subscription_id,
            event_id: row.event_id,
            event_seq: row.event_seq,
            attempt: row.attempt,
            outcome: row.outcome,
            response_status: row.response_status,
            latency_ms: row.latency_ms,
            error: row.error,
            attempted_at: row.attempted_at,
        }
    }
}

impl From<Delivery> for deliveries::Model {
    fn from(d: Delivery) -> deliveries::Model {
        deliveries::Model {
            id: d.id,
            subscription_id: d.subscription_id,
            event_id: d.event_id,
            event_seq: d.event_seq,
            attempt: d.attempt,
            outcome: d.outcome,
            response_status: d.response_status,
            latency_ms: d.latency_ms,
            error: d.error,
            attempted_at: d.attempted_at,
        }
    }
}

/// Stores a new subscription, in the caller's transaction.
pub async fn insert(conn: &impl ConnectionTrait, subscription: Subscription) -> Result<Subscription, DbErr> {
    let row = subscriptions::Model::from(subscription).into_active_model();
    Ok(row.insert(conn).await?.into())
}

/// A page of subscriptions in id order, after the id `after`, and whether more follow.
pub async fn list(
    conn: &impl ConnectionTrait,
    after: Option<&str>,
    limit: u64,
) -> Result<(Vec<Subscription>, bool), DbErr> {
    let mut select = subscriptions::Entity::find();
    if let Some(after) = after {
        select = select.filter(subscriptions::Column::Id.gt(after));
    }
    let mut rows = select.order_by_asc(subscriptions::Column::Id).limit(limit + 1).all(conn).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows.into_iter().map(Subscription::from).collect(), more))
}

/// One subscription, if there is one with this id.
pub async fn get(conn: &impl ConnectionTrait, id: &str) -> Result<Option<Subscription>, DbErr> {
    Ok(subscriptions::Entity::find_by_id(id.to_owned()).one(conn).await?.map(Subscription::from))
}

/// Deletes a subscription and its delivery log, in the caller's transaction; `false` when
/// there is none with this id.
pub async fn delete(conn: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    let deleted = subscriptions::Entity::delete_by_id(id.to_owned()).exec(conn).await?;
    if deleted.rows_affected == 0 {
        return Ok(false);
    }
    // Also without foreign-key enforcement (SQLite with it off), the log goes with it.
    deliveries::Entity::delete_many().filter(deliveries::Column::SubscriptionId.eq(id)).exec(conn).await?;
    Ok(true)
}

/// A page of a subscription's delivery attempts, newest first, before the attempt
/// `before`, and whether more follow.
pub async fn deliveries(
    conn: &impl ConnectionTrait,
    id: &str,
    before: Option<i64>,
    limit: u64,
) -> Result<(Vec<Delivery>, bool), DbErr> {
    let mut select = deliveries::Entity::find().filter(deliveries::Column::SubscriptionId.eq(id));
    if let Some(before) = before {
        select = select.filter(deliveries::Column::Id.lt(before));
    }
    let mut rows = select.order_by_desc(deliveries::Column::Id).limit(limit + 1).all(conn).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows.into_iter().map(Delivery::from).collect(), more))
}

/// `$n` on PostgreSQL, `?n` on SQLite.
fn placeholder(backend: DbBackend, n: usize) -> String {
    if backend == DbBackend::Postgres { format!("${n}") } else { format!("?{n}") }
}

/// Leases to `owner` until `until` up to `n` subscriptions that are active, due at `now`,
/// not leased, and have events to look at.
pub async fn lease(
    db: &Db,
    owner: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    n: u64,
) -> Result<Vec<Subscription>, DbErr> {
    let backend = db.conn.get_database_backend();
    let p = |n| placeholder(backend, n);
    let active = SubscriptionStatus::Active.as_str();
    // Active, due at `now`, not leased, and not at the last event of the feed (in feed
    // order, `(txid, seq)`: a later event may have a smaller `seq`).
    let due = |now: &str| {
        format!(
            "SELECT id FROM webhook_subscriptions \
             WHERE status = '{active}' AND next_attempt_at <= {now} \
             AND (lease_until IS NULL OR lease_until < {now}) \
             AND cursor <> COALESCE((SELECT seq FROM events ORDER BY txid DESC, seq DESC LIMIT 1), 0)"
        )
    };
    // A plain read first, so that the common case (nothing due) writes nothing and, on
    // SQLite, does not queue behind the API's writers.
    let probe = Statement::from_sql_and_values(backend, format!("{} LIMIT 1", due(&p(1))), [now.into()]);
    if db.conn.query_one_raw(probe).await?.is_none() {
        return Ok(Vec::new());
    }
    let skip_locked = if backend == DbBackend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    let sql = format!(
        "UPDATE webhook_subscriptions SET lease_owner = {}, lease_until = {} \
         WHERE id IN ({} ORDER BY next_attempt_at LIMIT {}{skip_locked}) \
         AND (lease_until IS NULL OR lease_until < {}) \
         RETURNING *",
        p(1),
        p(2),
        due(&p(3)),
        p(4),
        p(3),
    );
    let values: Vec<Value> = vec![owner.into(), until.into(), now.into(), (n as i64).into()];
    let write = Autocommit::begin(db).await;
    let rows = subscriptions::Model::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
        .all(write.conn())
        .await?;
    Ok(rows.into_iter().map(Subscription::from).collect())
}

/// When the earliest retry of an active subscription after `now` is due, if any waits.
pub async fn next_due(conn: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, DbErr> {
    subscriptions::Entity::find()
        .select_only()
        .column_as(Expr::col(subscriptions::Column::NextAttemptAt).min(), "due")
        .filter(subscriptions::Column::Status.eq(SubscriptionStatus::Active))
        .filter(subscriptions::Column::NextAttemptAt.gt(now))
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(conn)
        .await
        .map(Option::flatten)
}

/// Whether the subscription `id` still exists with its lease held by `owner`.
pub async fn held(conn: &impl ConnectionTrait, id: &str, owner: &str) -> Result<bool, DbErr> {
    let found = subscriptions::Entity::find_by_id(id.to_owned())
        .filter(subscriptions::Column::LeaseOwner.eq(owner))
        .select_only()
        .column(subscriptions::Column::Id)
        .into_tuple::<String>()
        .one(conn)
        .await?;
    Ok(found.is_some())
}

/// Hands back every lease `owner` holds.
pub async fn release_all(db: &Db, owner: &str) -> Result<(), DbErr> {
    let write = Autocommit::begin(db).await;
    subscriptions::Entity::update_many()
        .col_expr(subscriptions::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(subscriptions::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(subscriptions::Column::LeaseOwner.eq(owner))
        .exec(write.conn())
        .await?;
    Ok(())
}

/// Moves the cursor of a subscription `owner` holds to `cursor` and extends the lease to
/// `until`; `false` when the lease is gone.
pub async fn advance(db: &Db, id: &str, owner: &str, cursor: i64, until: DateTime<Utc>) -> Result<bool, DbErr> {
    let write = Autocommit::begin(db).await;
    let done = subscriptions::Entity::update_many()
        .col_expr(subscriptions::Column::Cursor, Expr::value(cursor))
        .col_expr(subscriptions::Column::LeaseUntil, Expr::value(Some(until)))
        .filter(subscriptions::Column::Id.eq(id))
        .filter(subscriptions::Column::LeaseOwner.eq(owner))
        .exec(write.conn())
        .await?;
    Ok(done.rows_affected == 1)
}

/// Gives back the lease `owner` holds on a subscription.
pub async fn release(db: &Db, id: &str, owner: &str) -> Result<(), DbErr> {
    let write = Autocommit::begin(db).await;
    subscriptions::Entity::update_many()
        .col_expr(subscriptions::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(subscriptions::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(subscriptions::Column::Id.eq(id))
        .filter(subscriptions::Column::LeaseOwner.eq(owner))
        .exec(write.conn())
        .await?;
    Ok(())
}

/// Records a delivery attempt and stores where the subscription stands after it (`next`),
/// in one transaction, while `owner` still holds it; `false` (nothing written) otherwise.
pub async fn record(db: &Db, owner: &str, next: &Subscription, delivery: Delivery) -> Result<bool, DbErr> {
    let write = Write::begin(db).await?;
    let updated = subscriptions::Entity::update_many()
        .col_expr(subscriptions::Column::Cursor, Expr::value(next.cursor))
        .col_expr(subscriptions::Column::Attempt, Expr::value(next.attempt))
        .col_expr(subscriptions::Column::FirstFailureAt, Expr::value(next.first_failure_at))
        .col_expr(subscriptions::Column::NextAttemptAt, Expr::value(next.next_attempt_at))
        .col_expr(subscriptions::Column::LeaseOwner, Expr::value(next.lease_owner.clone()))
        .col_expr(subscriptions::Column::LeaseUntil, Expr::value(next.lease_until))
        .col_expr(subscriptions::Column::Status, Expr::value(next.status))
        .col_expr(subscriptions::Column::PausedReason, Expr::value(next.paused_reason.clone()))
        .filter(subscriptions::Column::Id.eq(next.id.as_str()))
        .filter(subscriptions::Column::LeaseOwner.eq(owner))
        .exec(write.txn())
        .await?;
    if updated.rows_affected != 1 {
        return Ok(false);
    }
    let mut row = deliveries::Model::from(delivery).into_active_model();
    row.id = NotSet;
    deliveries::Entity::insert(row).exec(write.txn()).await?;
    write.commit(None).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveEnum, Iterable};

    use super::*;

    #[test]
    fn statuses_and_outcomes_are_stored_as_before() {
        let statuses: Vec<String> = SubscriptionStatus::iter().map(|s| s.to_value()).collect();
        assert_eq!(statuses, ["active", "paused"]);
        assert!(SubscriptionStatus::iter().all(|s| s.to_value() == s.as_str()));
        let outcomes: Vec<String> = DeliveryOutcome::iter().map(|o| o.to_value()).collect();
        assert_eq!(outcomes, ["succeeded", "failed"]);
    }
}
