//! The reconciler notices uploads without bucket notifications: every poll interval it
//! leases the `pending` rows (`received` ones belong to the validation workers, `validator`) no other replica holds (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL; SQLite has one writer, so a plain update under the writer lock),
//! HEADs pending objects, checks received files and expires uploads whose URL ran out. A
//! lease lasts half a poll interval, so each row is looked at about once per interval
//! across all replicas, and a replica that dies mid-batch only delays its rows. Rows are
//! taken least recently checked first (never checked before all), so a long backlog of
//! URLs nobody used cannot starve newer uploads when a pass runs out of time.
use std::{sync::Arc, time::Duration};

use chrono::Utc;
use tokio::{sync::watch, task::JoinSet};

use super::{Status, UploadRow, Uploads};
use crate::store::{DbErr, uploads as store};

/// Rows leased at once.
const BATCH: u64 = 500;
/// Objects checked at once.
const CONCURRENCY: usize = 32;

/// Runs the reconciler every `every` until `stop` turns true.
pub fn spawn(uploads: Arc<Uploads>, every: Duration, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            if let Err(err) = run_once(&uploads, every).await {
                tracing::warn!(error = %err, "upload reconciler pass failed; retrying next interval");
            }
        }
    })
}

/// One pass: lease and handle rows until none is due (or an interval has gone by).
pub async fn run_once(uploads: &Arc<Uploads>, every: Duration) -> anyhow::Result<usize> {
    let started = std::time::Instant::now();
    let mut handled = 0;
    loop {
        let batch = lease(uploads, every).await?;
        if batch.is_empty() {
            return Ok(handled);
        }
        handled += batch.len();
        let mut tasks = JoinSet::new();
        for row in batch {
            if tasks.len() >= CONCURRENCY {
                tasks.join_next().await;
            }
            let uploads = uploads.clone();
            tasks.spawn(async move {
                if let Err(err) = handle(&uploads, &row).await {
                    tracing::warn!(upload = %row.id, error = %err, "cannot reconcile an upload");
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        if started.elapsed() >= every {
            return Ok(handled);
        }
    }
}

async fn handle(uploads: &Uploads, row: &UploadRow) -> Result<(), crate::error::ApiError> {
    match row.status {
        Status::Pending => match uploads.storage.head(&row.bucket, &row.object_key).await {
            Ok(Some(info)) => uploads.on_object(row, &info).await,
            Ok(None) if row.expires_at <= Utc::now() => {
                uploads.expire(row, "no object arrived before expiresAt").await.map(drop)
            }
            Ok(None) => Ok(()),
            Err(err) => Err(crate::error::ApiError::StorageUnavailable(err.to_string())),
        },
        Status::Received => uploads.validate(row).await.map(drop),
        _ => Ok(()),
    }
}

/// Leases up to `BATCH` due rows for half a poll interval (at least a second).
async fn lease(uploads: &Uploads, every: Duration) -> Result<Vec<UploadRow>, DbErr> {
    let now = Utc::now();
    let hold =
        chrono::Duration::from_std((every / 2).max(Duration::from_secs(1))).unwrap_or(chrono::Duration::seconds(5));
    store::lease_pending(&uploads.db, now, now + hold, BATCH).await
}
