//! Persistence: the connection, migrations, every query and every difference between the
//! backends. Writes go through the one unit of work (`tx`), which alone takes SQLite's
//! writer lock. Writers to one product are serialised (row lock on PostgreSQL, one writer
//! at a time on SQLite), so versions are numbered without gaps or duplicates.
pub mod cache;
pub mod entities;
pub mod events;
pub mod idempotency_keys;
pub mod products;
pub mod stats;
pub mod tx;
pub mod uploads;
pub mod versions;
pub mod views;
pub mod webhooks;

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub use sea_orm::DbErr;

use self::events::{Heard, Notifier};

/// The database and how writes are serialised on it.
#[derive(Clone)]
pub struct Db {
    pub conn: DatabaseConnection,
    /// SQLite allows one writer at a time; taking this before `BEGIN` avoids busy errors.
    sqlite_writer: Option<Arc<Mutex<()>>>,
    /// Wakes feed readers when events commit.
    pub feed: Notifier,
    /// Immutable version snapshots and product heads (see `cache`).
    pub reads: Arc<cache::ReadCache>,
}

impl Db {
    /// Connects to `url` (`postgres://...` or `sqlite://...`).
    /// `cache_bytes` bounds the read cache.
    pub async fn connect(url: &str, max_connections: u32, cache_bytes: u64) -> anyhow::Result<Db> {
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        let conn = Database::connect(opts)
            .await
            .with_context(|| format!("cannot connect to the database at {}", redact(url)))?;
        let sqlite_writer = (conn.get_database_backend() == DbBackend::Sqlite).then(|| Arc::new(Mutex::new(())));
        let postgres = conn.get_database_backend() == DbBackend::Postgres;
        let feed = if postgres {
            Notifier::for_postgres(conn.get_postgres_connection_pool().clone())
        } else {
            Notifier::default()
        };
        // One process owns an SQLite file, so its heads need no listener and never expire.
        let reads = Arc::new(cache::ReadCache::new(cache_bytes, !postgres, postgres.then_some(cache::HEAD_TTL)));
        if postgres {
            let heads = reads.clone();
            feed.listen_postgres(
                conn.get_postgres_connection_pool().clone(),
                Arc::new(move |heard| match heard {
                    Heard::Listening => heads.set_trusted(true),
                    Heard::Lost => heads.set_trusted(false),
                    Heard::Committed(product) => heads.forget_head(product),
                }),
            );
        }
        Ok(Db { conn, sqlite_writer, feed, reads })
    }

    /// The default embedded database under `data_dir`.
    pub fn sqlite_url(data_dir: &Path) -> String {
        format!("sqlite://{}?mode=rwc", data_dir.join("daap.db").display())
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Held for the length of a write (taken only by `tx`).
    async fn writer(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.sqlite_writer {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        }
    }

    pub async fn migrate_up(&self) -> anyhow::Result<()> {
        Migrator::up(&self.conn, None).await.context("applying migrations")
    }

    /// True when the database answers and every migration is applied.
    pub async fn is_ready(&self) -> bool {
        match Migrator::get_pending_migrations_read_only(&self.conn).await {
            Ok(pending) => pending.is_empty(),
            Err(_) => false,
        }
    }

    /// Connections of the pool in use and idle, for metrics.
    pub fn pool_state(&self) -> crate::metrics::PoolState {
        let (size, idle) = match self.backend() {
            DbBackend::Postgres => {
                let p = self.conn.get_postgres_connection_pool();
                (p.size(), p.num_idle())
            }
            _ => {
                let p = self.conn.get_sqlite_connection_pool();
                (p.size(), p.num_idle())
            }
        };
        crate::metrics::PoolState { in_use: u64::from(size).saturating_sub(idle as u64), idle: idle as u64 }
    }

    pub async fn ping(&self) -> bool {
        self.conn.execute_unprepared("SELECT 1").await.is_ok()
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => {
                    format!("{}://{}:***{}", &url[..scheme], &creds[..colon], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
