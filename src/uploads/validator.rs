//! Validation workers: each takes one `received` upload at a time and checks every row of
//! its file (`validate`), off the request path. A worker leases the row (`validation_lease`,
//! `lease_until`; `FOR UPDATE SKIP LOCKED` on PostgreSQL, the writer lock on SQLite) and
//! renews the lease while it reads, so replicas share the work and a replica that dies
//! mid-object only delays it: once the lease runs out another worker validates the object
//! again from the start. An upload taken `MAX_ATTEMPTS` times without a verdict is
//! rejected, so no upload stays `received` for ever.
use std::{sync::Arc, time::Duration};

use chrono::Utc;
use tokio::{sync::watch, task::JoinSet};

use super::{
    UploadRow, Uploads,
    validate::{self, ColumnSpec, Object, Outcome, Report},
};
use crate::{
    catalog,
    domain::{
        column_type::ColumnType,
        names::ProductName,
        version::{Version, VersionSelector},
    },
    error::ApiError,
    store::{DbErr, uploads as store},
};

/// How long a worker holds an upload without renewing.
pub const LEASE: Duration = Duration::from_secs(30);
/// Times an upload may be taken before it is rejected as uncheckable.
pub const MAX_ATTEMPTS: i32 = 5;
/// Wait after the store failed before the upload is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Starts `workers` validation workers (none: this replica leaves validation to others);
/// the handle ends when all have stopped after `stop`.
pub fn spawn(uploads: Arc<Uploads>, workers: usize, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let idle = uploads.config.poll_interval.clamp(Duration::from_millis(100), Duration::from_secs(2));
    tokio::spawn(async move {
        let mut all = JoinSet::new();
        for _ in 0..workers {
            all.spawn(work(uploads.clone(), idle, stop.clone()));
        }
        while all.join_next().await.is_some() {}
    })
}

async fn work(uploads: Arc<Uploads>, idle: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        match validate_next(&uploads).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(err) => tracing::warn!(error = %err, "upload validation failed; retrying later"),
        }
        tokio::select! {
            _ = uploads.validation_wanted.notified() => {}
            _ = tokio::time::sleep(idle) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Leases one due `received` upload and validates it; `false` when none is due.
pub async fn validate_next(uploads: &Uploads) -> Result<bool, ApiError> {
    let token = uuid::Uuid::new_v4().to_string();
    let Some(row) = lease(uploads, &token).await? else {
        return Ok(false);
    };
    let started = std::time::Instant::now();
    let work = verdict(uploads, &row);
    tokio::pin!(work);
    let mut beat = tokio::time::interval(LEASE / 3);
    beat.tick().await;
    let outcome = loop {
        tokio::select! {
            outcome = &mut work => break outcome,
            _ = beat.tick() => {
                if !renew(uploads, &row.id, &token).await? {
                    tracing::warn!(upload = %row.id, "lost the validation lease; another worker checks the file");
                    return Ok(true);
                }
            }
        }
    };
    match outcome {
        Ok(outcome) => {
            uploads.metrics.validation.observe(&outcome.report, started.elapsed());
            uploads.record_validation(&row, &outcome).await?;
        }
        Err(err) => {
            release(uploads, &row.id, &token).await?;
            return Err(err);
        }
    }
    Ok(true)
}

/// Checks the upload's file against its table as of the upload's version.
async fn verdict(uploads: &Uploads, row: &UploadRow) -> Result<Outcome, ApiError> {
    if row.validation_attempts > MAX_ATTEMPTS {
        return Ok(rejected(format!("the file could not be checked in {MAX_ATTEMPTS} attempts")));
    }
    let format = row.format;
    let size = u64::try_from(row.size.unwrap_or(row.content_length)).unwrap_or(0);
    if Some(size) != u64::try_from(row.content_length).ok() {
        return Ok(rejected(format!("the object has {size} bytes, but contentLength was {}", row.content_length)));
    }
    let table = match table_of(uploads, row).await? {
        Ok(table) => table,
        Err(why) => return Ok(rejected(why)),
    };
    let object =
        Object { storage: uploads.storage.clone(), bucket: row.bucket.clone(), key: row.object_key.clone(), size };
    let full = size <= uploads.config.validate_max_bytes;
    validate::check(&object, format, &table, full).await.map_err(|e| ApiError::StorageUnavailable(e.to_string()))
}

fn rejected(why: String) -> Outcome {
    Outcome { report: Report::default(), rejection: Some(why) }
}

/// The columns of the upload's table in the upload's version, or why there are none.
pub async fn table_of(uploads: &Uploads, row: &UploadRow) -> Result<Result<Vec<ColumnSpec>, String>, ApiError> {
    let gone = || Ok(Err(format!("table `{}` of version {} no longer exists", row.table_name, row.version)));
    let (Ok(name), Ok(version)) = (ProductName::parse(&row.data_product), Version::parse(&row.version)) else {
        return gone();
    };
    // The version is immutable: read it through the snapshot cache.
    let snapshot = match catalog::selected(&uploads.db, &name, VersionSelector::Exact(version), true).await {
        Ok((_, snapshot)) => snapshot,
        Err(ApiError::NotFound(_)) => return gone(),
        Err(other) => return Err(other),
    };
    let Some(table) = snapshot.table(&row.table_name) else {
        return gone();
    };
    table
        .columns
        .iter()
        .map(|c| match ColumnType::parse(&c.ty) {
            Ok(ty) => Ok(ColumnSpec { name: c.name.clone(), ty, nullable: c.nullable }),
            Err(_) => {
                Err(ApiError::Internal(anyhow::anyhow!("a stored column of `{}` cannot be read", row.table_name)))
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Ok)
}

/// Takes the oldest due `received` upload for `token`, counting the attempt.
async fn lease(uploads: &Uploads, token: &str) -> Result<Option<UploadRow>, DbErr> {
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::seconds(30));
    store::lease_received(&uploads.db, token, now, until).await
}

/// Extends the lease; `false` when it is no longer this worker's.
async fn renew(uploads: &Uploads, id: &str, token: &str) -> Result<bool, ApiError> {
    let until = Utc::now() + chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::seconds(30));
    Ok(store::renew_validation(&uploads.db, id, token, until).await?)
}

/// Gives the upload back after the store failed: tried again after `RETRY_AFTER`, and the
/// attempt does not count (an outage must not reject files).
async fn release(uploads: &Uploads, id: &str, token: &str) -> Result<(), ApiError> {
    let until = Utc::now() + chrono::Duration::from_std(RETRY_AFTER).unwrap_or(chrono::Duration::seconds(5));
    Ok(store::release_validation(&uploads.db, id, token, until).await?)
}
