//! The one unit of work. `Write` is a write transaction: it takes the SQLite writer lock
//! itself (before `BEGIN`, held until the transaction ends), appends feed events in the
//! transaction, and at commit stores the idempotent answer with the change, then moves the
//! touched products' heads and wakes feed readers. `Autocommit` is the same right for one
//! statement on its own. Nothing else in the crate takes the writer lock.
use std::sync::Arc;

use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use tokio::sync::OwnedMutexGuard;

use super::{
    Db,
    cache::ReadCache,
    events::{self, Notifier},
    idempotency_keys::{self, Answer},
};
use crate::domain::event::NewEvent;

/// Taken before any write: on SQLite, the one writer's lock (`None` on PostgreSQL).
async fn exclusive(db: &Db) -> Option<OwnedMutexGuard<()>> {
    db.writer().await
}

/// A write transaction; dropped without `commit`, it rolls back.
pub struct Write {
    txn: DatabaseTransaction,
    _writer: Option<OwnedMutexGuard<()>>,
    feed: Notifier,
    reads: Arc<ReadCache>,
    /// Products whose events this transaction appends: their heads move at commit.
    touched: Vec<String>,
}

impl Write {
    /// Starts a write transaction (holding the SQLite writer lock until it ends).
    pub async fn begin(db: &Db) -> Result<Write, DbErr> {
        let writer = exclusive(db).await;
        let txn = db.conn.begin().await?;
        Ok(Write { txn, _writer: writer, feed: db.feed.clone(), reads: db.reads.clone(), touched: Vec::new() })
    }

    /// The transaction the write runs in.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// Appends an event to the feed in this transaction.
    pub async fn emit(&mut self, event: NewEvent) -> Result<(), DbErr> {
        let product = event.data_product.clone();
        events::append(&self.txn, event).await?;
        if !self.touched.contains(&product) {
            self.touched.push(product);
        }
        Ok(())
    }

    /// Commits the change together with the answer to replay for an idempotency key; then
    /// the touched products' cached heads are forgotten and feed readers woken.
    pub async fn commit(self, answer: Option<Answer>) -> Result<(), DbErr> {
        if let Some((key, response)) = &answer {
            idempotency_keys::complete(&self.txn, key, response).await?;
        }
        self.txn.commit().await?;
        for product in &self.touched {
            self.reads.forget_head(product);
        }
        if !self.touched.is_empty() {
            self.feed.committed(self.touched);
        }
        Ok(())
    }
}

/// One statement on its own (no `BEGIN`/`COMMIT` round trips), run while holding the
/// SQLite writer lock. For single-row bookkeeping: claims, leases, releases.
pub(in crate::store) struct Autocommit<'a> {
    conn: &'a DatabaseConnection,
    _writer: Option<OwnedMutexGuard<()>>,
}

impl<'a> Autocommit<'a> {
    pub(in crate::store) async fn begin(db: &'a Db) -> Autocommit<'a> {
        Autocommit { _writer: exclusive(db).await, conn: &db.conn }
    }

    /// The connection to run the statement on.
    pub(in crate::store) fn conn(&self) -> &'a DatabaseConnection {
        self.conn
    }
}
