//! The change feed's table: appending an event inside a write's transaction, reading
//! pages in feed order, and hearing commits (`Notifier`; on PostgreSQL through `LISTEN`).
//! The ordering design is explained in `crate::events`.
use std::{sync::Arc, time::Duration};

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QuerySelect, Statement};
use tokio::sync::watch;

use super::entities::events;
use crate::domain::event::NewEvent;

/// One event of the feed, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// Names the event in cursors; the feed's order is that of the writing transactions.
    pub seq: i64,
    pub id: String,
    pub event_type: String,
    pub data_product: String,
    pub version: Option<String>,
    pub table_name: Option<String>,
    pub occurred_at: chrono::DateTime<Utc>,
    pub actor: String,
    pub data: serde_json::Value,
}

impl From<events::Model> for EventRow {
    fn from(row: events::Model) -> EventRow {
        EventRow {
            seq: row.seq,
            id: row.id,
            event_type: row.event_type,
            data_product: row.data_product,
            version: row.version,
            table_name: row.table_name,
            occurred_at: row.occurred_at,
            actor: row.actor,
            data: row.data,
        }
    }
}

/// The PostgreSQL notification channel that tells other replicas an event committed.
pub const CHANNEL: &str = "daap_events";

/// Appends `event` inside the caller's transaction (see the module docs for the ordering).
pub async fn append(conn: &impl ConnectionTrait, event: NewEvent) -> Result<EventRow, DbErr> {
    let backend = conn.get_database_backend();
    let values: Vec<sea_orm::Value> = vec![
        uuid::Uuid::new_v4().to_string().into(),
        event.event_type.as_str().into(),
        event.data_product.clone().into(),
        event.version.into(),
        event.table.into(),
        Utc::now().into(),
        event.actor.into(),
        event.data.into(),
    ];
    // Other replicas are told after the commit (`Notifier::committed`), not by a NOTIFY in
    // this transaction: PostgreSQL serialises the commits of every transaction that
    // notifies, WAL flush included, which would make all writes queue behind one another.
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO events (id, event_type, data_product, version, table_name, occurred_at, actor, data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *"
        }
        _ => {
            "INSERT INTO events (id, event_type, data_product, version, table_name, occurred_at, actor, data) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *"
        }
    };
    events::Model::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
        .one(conn)
        .await?
        .map(EventRow::from)
        .ok_or_else(|| DbErr::RecordNotInserted)
}

/// Whether an event's transaction is below the horizon: every transaction before it has
/// ended, so nothing can commit behind it any more (PostgreSQL; always on SQLite).
fn settled(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "(txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint)",
        _ => "1",
    }
}

/// The feed position of the event `seq` (`None`: no such event).
async fn position(conn: &impl ConnectionTrait, seq: i64) -> Result<Option<(i64, i64)>, DbErr> {
    if seq == 0 {
        return Ok(Some((i64::MIN, 0)));
    }
    let txid = events::Entity::find_by_id(seq)
        .select_only()
        .column(events::Column::Txid)
        .into_tuple::<i64>()
        .one(conn)
        .await?;
    Ok(txid.map(|t| (t, seq)))
}

/// The `seq` of the last event a reader can see now (0 when there is none): every event
/// that commits later sorts after it.
pub async fn head(conn: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let backend = conn.get_database_backend();
    let sql = format!("SELECT seq FROM events WHERE {} ORDER BY txid DESC, seq DESC LIMIT 1", settled(backend));
    let row = conn.query_one_raw(Statement::from_string(backend, sql)).await?;
    Ok(match row {
        Some(row) => row.try_get("", "seq")?,
        None => 0,
    })
}

/// A page request of the feed.
#[derive(Debug, Clone, Default)]
pub struct FeedQuery {
    /// Only events after the event with this `seq` (0: from the start).
    pub after: i64,
    pub limit: u64,
    pub event_type: Option<String>,
    pub data_product: Option<String>,
}

/// Why a page cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("the cursor names no event of the feed")]
    UnknownCursor,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// How long a read waits for events that have committed but are not settled yet (older
/// transactions still running), so a client reads its own writes.
const SETTLE_FOR: Duration = Duration::from_secs(1);

/// The next events after `q.after`, in feed order: only settled ones, so none can ever
/// commit before them. When committed events wait behind the horizon and the page is not
/// full, waits up to `SETTLE_FOR` for them.
pub async fn read(conn: &impl ConnectionTrait, q: &FeedQuery) -> Result<Vec<EventRow>, FeedError> {
    let started = tokio::time::Instant::now();
    loop {
        let (rows, waiting) = read_once(conn, q).await?;
        if !waiting || rows.len() as u64 >= q.limit || started.elapsed() >= SETTLE_FOR {
            return Ok(rows);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One page of settled events, and whether committed events wait behind them.
async fn read_once(conn: &impl ConnectionTrait, q: &FeedQuery) -> Result<(Vec<EventRow>, bool), FeedError> {
    let backend = conn.get_database_backend();
    let (txid, seq) = position(conn, q.after).await?.ok_or(FeedError::UnknownCursor)?;
    let p = |n: usize| if backend == DbBackend::Postgres { format!("${n}") } else { format!("?{n}") };
    // Settled events sort before unsettled ones (their txid is lower), so the settled
    // rows are a prefix of the page.
    let mut sql = format!(
        "SELECT seq, txid, id, event_type, data_product, version, table_name, occurred_at, actor, data, \
         {} AS settled FROM events WHERE (txid, seq) > ({}, {})",
        settled(backend),
        p(1),
        p(2),
    );
    let mut values: Vec<sea_orm::Value> = vec![txid.into(), seq.into()];
    if let Some(t) = &q.event_type {
        values.push(t.clone().into());
        sql.push_str(&format!(" AND event_type = {}", p(values.len())));
    }
    if let Some(product) = &q.data_product {
        values.push(product.clone().into());
        sql.push_str(&format!(" AND data_product = {}", p(values.len())));
    }
    values.push((q.limit as i64).into());
    sql.push_str(&format!(" ORDER BY txid, seq LIMIT {}", p(values.len())));
    let mut rows = Vec::new();
    for row in conn.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await? {
        if !row.try_get::<bool>("", "settled")? {
            return Ok((rows, true));
        }
        rows.push(events::Model::from_query_result(&row, "")?.into());
    }
    Ok((rows, false))
}

/// Wakes every waiting feed reader when events commit, and tells the other replicas.
#[derive(Clone)]
pub struct Notifier {
    local: Arc<watch::Sender<u64>>,
    /// Where other replicas listen (PostgreSQL).
    others: Option<sea_orm::sqlx::PgPool>,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier { local: Arc::new(watch::channel(0).0), others: None }
    }
}

impl Notifier {
    /// A notifier that also tells the replicas listening on `pool`'s database.
    pub fn for_postgres(pool: sea_orm::sqlx::PgPool) -> Notifier {
        Notifier { others: Some(pool), ..Notifier::default() }
    }

    /// Wakes this replica's feed readers (events committed, here or elsewhere).
    pub fn notify(&self) {
        self.local.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Called after a transaction with events about `products` commits: wakes this
    /// replica's readers and, in the background, notifies the other replicas (one
    /// statement outside the write, so no commit waits for it). A notification lost to
    /// a crash right after the commit delays the others by at most their head lifetime
    /// (`cache::HEAD_TTL`); the feed itself is never affected.
    pub fn committed(&self, products: Vec<String>) {
        self.notify();
        let Some(pool) = self.others.clone() else { return };
        tokio::spawn(async move {
            let sent = sea_orm::sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
                .bind(CHANNEL)
                .bind(&products)
                .execute(&pool)
                .await;
            if let Err(err) = sent {
                tracing::warn!(error = %err, "cannot notify other replicas of a change; they see it within their head lifetime");
            }
        });
    }

    /// Changes whenever events commit.
    pub fn epoch(&self) -> u64 {
        *self.local.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.local.subscribe()
    }

    /// Listens for commits of other replicas (PostgreSQL only) for as long as the process
    /// runs, telling `on` what it hears: `Listening` once the channel is open (anything may
    /// have committed before), `Committed(product)` per notification, `Lost` when the
    /// connection breaks (until the next `Listening`, nothing is heard).
    pub fn listen_postgres(&self, pool: sea_orm::sqlx::PgPool, on: Arc<dyn Fn(Heard<'_>) + Send + Sync>) {
        let notifier = self.clone();
        tokio::spawn(async move {
            loop {
                match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut listener) => {
                        if listener.listen(CHANNEL).await.is_ok() {
                            on(Heard::Listening);
                            // Anything committed while we were not listening.
                            notifier.notify();
                            // `try_recv` says when the connection was lost (`recv` would reconnect
                            // silently, and what was sent meanwhile would never be heard).
                            while let Ok(Some(notification)) = listener.try_recv().await {
                                on(Heard::Committed(notification.payload()));
                                notifier.notify();
                            }
                        }
                        on(Heard::Lost);
                    }
                    Err(err) => {
                        on(Heard::Lost);
                        tracing::warn!(error = %err, "feed listener cannot connect; retrying");
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }
}

/// What the change listener hears.
#[derive(Debug, Clone, Copy)]
pub enum Heard<'a> {
    Listening,
    /// An event about this product committed on some replica.
    Committed(&'a str),
    Lost,
}
