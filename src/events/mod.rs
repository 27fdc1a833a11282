//! The change feed: one total order of events, each written in the same transaction as
//! the change it describes.
//!
//! Ordering design: `events.seq` is a database sequence, but a sequence alone does not
//! give commit order on PostgreSQL (a transaction can take seq 7, another seq 8 and commit
//! first, so a reader that saw 8 would skip 7 for good). Every transaction that appends an
//! event therefore first takes one transaction-scoped advisory lock
//! (`pg_advisory_xact_lock`), then takes its `seq`, and holds the lock until it commits.
//! The appends of concurrent transactions (on any replica) thus take their numbers in the
//! order they commit, and an event can never become visible behind a cursor a reader has
//! already passed. Only the short tail of a write (append + commit) is serialised. On
//! SQLite there is one writer at a time, which gives the same guarantee.
//!
//! Waiting readers (`wait`) sleep on one in-process notifier; it is woken by local
//! commits and, on PostgreSQL, by one `LISTEN daap_events` connection per replica, so
//! waiting clients never poll the database.
use std::{sync::Arc, time::Duration};

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use tokio::sync::watch;

use crate::store::entities::events;

pub use events::Model as EventRow;

/// Every event type of the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    DataProductCreated,
    DataProductUpdated,
    DataProductDeleted,
    DataProductRestored,
    DataProductPurged,
    SchemaCreated,
    SchemaUpdated,
    SchemaDeleted,
    UploadReceived,
    UploadValidated,
    UploadRejected,
    UploadExpired,
}

impl EventType {
    pub const ALL: [EventType; 12] = [
        Self::DataProductCreated,
        Self::DataProductUpdated,
        Self::DataProductDeleted,
        Self::DataProductRestored,
        Self::DataProductPurged,
        Self::SchemaCreated,
        Self::SchemaUpdated,
        Self::SchemaDeleted,
        Self::UploadReceived,
        Self::UploadValidated,
        Self::UploadRejected,
        Self::UploadExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DataProductCreated => "data_product.created",
            Self::DataProductUpdated => "data_product.updated",
            Self::DataProductDeleted => "data_product.deleted",
            Self::DataProductRestored => "data_product.restored",
            Self::DataProductPurged => "data_product.purged",
            Self::SchemaCreated => "schema.created",
            Self::SchemaUpdated => "schema.updated",
            Self::SchemaDeleted => "schema.deleted",
            Self::UploadReceived => "upload.received",
            Self::UploadValidated => "upload.validated",
            Self::UploadRejected => "upload.rejected",
            Self::UploadExpired => "upload.expired",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// An event about to be appended.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: EventType,
    pub data_product: String,
    pub version: Option<String>,
    pub table: Option<String>,
    pub actor: String,
    pub data: serde_json::Value,
}

/// The advisory lock key that orders appends (an arbitrary constant owned by daap).
const APPEND_LOCK: i64 = 0x6461_6170_6576;
/// The PostgreSQL notification channel that tells other replicas an event committed.
pub const CHANNEL: &str = "daap_events";

/// Appends `event` inside the caller's transaction (see the module docs for the ordering).
pub async fn append(conn: &impl ConnectionTrait, event: NewEvent) -> Result<EventRow, DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({APPEND_LOCK}), pg_notify('{CHANNEL}', '')"))
            .await?;
    }
    events::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        event_type: Set(event.event_type.as_str().to_owned()),
        data_product: Set(event.data_product),
        version: Set(event.version),
        table_name: Set(event.table),
        occurred_at: Set(Utc::now()),
        actor: Set(event.actor),
        data: Set(event.data),
        ..Default::default()
    }
    .insert(conn)
    .await
}

/// The opaque feed cursor that resumes right after `seq`.
pub fn cursor_of(seq: i64) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    URL_SAFE_NO_PAD.encode(format!("e:{seq}"))
}

/// An event as the feed and webhook deliveries show it (camelCase, absent members omitted).
pub fn wire(row: &EventRow) -> serde_json::Value {
    let mut event = serde_json::json!({
        "cursor": cursor_of(row.seq),
        "id": row.id,
        "type": row.event_type,
        "dataProduct": row.data_product,
        "occurredAt": row.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "actor": row.actor,
        "data": row.data,
    });
    if let Some(version) = &row.version {
        event["version"] = serde_json::json!(version);
    }
    if let Some(table) = &row.table_name {
        event["table"] = serde_json::json!(table);
    }
    event
}

/// The `seq` of the newest committed event (0 when the feed is empty). Appends take their
/// `seq` in commit order, so every event after it commits later.
pub async fn head(conn: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let newest = events::Entity::find().order_by_desc(events::Column::Seq).limit(1).one(conn).await?;
    Ok(newest.map(|e| e.seq).unwrap_or(0))
}

/// A page request of the feed.
#[derive(Debug, Clone, Default)]
pub struct FeedQuery {
    /// Only events with a larger `seq`.
    pub after: i64,
    pub limit: u64,
    pub event_type: Option<String>,
    pub data_product: Option<String>,
}

/// The next events after `q.after`, in feed order.
pub async fn read(conn: &impl ConnectionTrait, q: &FeedQuery) -> Result<Vec<EventRow>, DbErr> {
    let mut select = events::Entity::find().filter(events::Column::Seq.gt(q.after));
    if let Some(t) = &q.event_type {
        select = select.filter(events::Column::EventType.eq(t.as_str()));
    }
    if let Some(p) = &q.data_product {
        select = select.filter(events::Column::DataProduct.eq(p.as_str()));
    }
    select.order_by_asc(events::Column::Seq).limit(q.limit).all(conn).await
}

/// Wakes every waiting feed reader when events commit.
#[derive(Clone)]
pub struct Notifier(Arc<watch::Sender<u64>>);

impl Default for Notifier {
    fn default() -> Self {
        Notifier(Arc::new(watch::channel(0).0))
    }
}

impl Notifier {
    /// Called after a transaction with events commits.
    pub fn notify(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes whenever events commit.
    pub fn epoch(&self) -> u64 {
        *self.0.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }

    /// Listens for commits of other replicas (PostgreSQL only) for as long as the process runs.
    pub fn listen_postgres(&self, pool: sea_orm::sqlx::PgPool) {
        let notifier = self.clone();
        tokio::spawn(async move {
            loop {
                match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut listener) => {
                        if listener.listen(CHANNEL).await.is_ok() {
                            // Anything committed while we were not listening.
                            notifier.notify();
                            while listener.recv().await.is_ok() {
                                notifier.notify();
                            }
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "feed listener cannot connect; retrying"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}
