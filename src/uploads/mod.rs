//! Upload tracking: a producer gets a presigned URL, PUTs the file straight to object
//! storage, and the service follows the upload `pending` -> `received` -> `validated` |
//! `rejected`, or `expired`. Every status change is a compare-and-set on the row's status
//! written with its `upload.*` event in one transaction, so a change happens (and is
//! announced) exactly once, however many replicas or storage events notice the object.
pub mod reconciler;
pub mod validate;
pub mod validator;

use std::{sync::Arc, time::Duration};

use chrono::Utc;

pub use crate::store::uploads::{FileFormat, Upload as UploadRow, UploadStatus as Status, delete_for_product};
use crate::{
    auth::Principal,
    domain::names::{ProductName, TableName},
    error::{ApiError, FieldError},
    events::{EventType, NewEvent},
    idempotency::Answer,
    metrics::Metrics,
    storage::{ObjectInfo, Presigned, Storage, StorageError},
    store::{
        Db, products as q,
        uploads::{self as store, Change, UploadFilter},
    },
};

/// The actor of the events the service itself causes (an object noticed, a file checked).
pub const SERVICE_ACTOR: &str = "daap";
/// S3's most parts in one multipart upload.
pub const MAX_PARTS: u64 = 10_000;
/// S3's smallest part (all but the last).
pub const MIN_PART: u64 = 5 * 1024 * 1024;
/// The largest file: 5 TiB.
pub const MAX_FILE: u64 = 5 * 1024 * 1024 * 1024 * 1024;
/// Part URLs in a multipart upload's create answer; the rest are paged from
/// `GET /v1/uploads/{id}/parts`, so neither the answer nor its idempotent replay grows
/// with the file (a 5 TiB file has up to 10,000 parts).
pub const PARTS_IN_ANSWER: u64 = 100;
/// The most part URLs one `GET /v1/uploads/{id}/parts` hands out.
pub const MAX_PARTS_PAGE: u64 = 1000;

/// The event announcing that an upload reached `status`.
fn event_of(status: Status) -> Option<EventType> {
    match status {
        Status::Pending => None,
        Status::Received => Some(EventType::UploadReceived),
        Status::Validated => Some(EventType::UploadValidated),
        Status::Rejected => Some(EventType::UploadRejected),
        Status::Expired => Some(EventType::UploadExpired),
    }
}

/// A validated request for an upload URL.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub filename: String,
    pub format: FileFormat,
    pub content_length: u64,
    /// Base64 of the 16-byte MD5.
    pub content_md5: String,
    pub content_type: Option<String>,
}

/// How the client sends the file: one PUT, or parts (the first `PARTS_IN_ANSWER` of them).
#[derive(Debug, Clone)]
pub enum Transfer {
    Single(Presigned),
    Multipart { part_size: u64, part_count: u64, parts: Vec<(i32, u64, Presigned)> },
}

/// A page of a multipart upload's part URLs.
#[derive(Debug, Clone)]
pub struct PartPage {
    /// Part number, size and presigned URL.
    pub parts: Vec<(i32, u64, Presigned)>,
    pub part_count: u64,
    /// The part number the next page starts at; `None` after the last part.
    pub next_from: Option<u64>,
}

/// The product and table an upload is for, as the latest version has them.
#[derive(Debug, Clone)]
struct Target {
    domain: String,
    deleted: bool,
    major: i32,
    version: String,
    /// The table's column names; `None` when the latest version has no such table.
    columns: Option<Vec<String>>,
}

/// Settings of uploads.
#[derive(Debug, Clone)]
pub struct UploadConfig {
    pub url_ttl: Duration,
    pub poll_interval: Duration,
    pub multipart_threshold: u64,
    pub part_size: u64,
    /// Objects up to this size are validated row by row; larger ones on their header/schema only.
    pub validate_max_bytes: u64,
    /// Validation workers per replica (each checks one object at a time).
    pub validation_workers: usize,
}

/// The upload workflows and what they need.
pub struct Uploads {
    pub db: Db,
    pub storage: Arc<Storage>,
    pub metrics: Arc<Metrics>,
    pub config: UploadConfig,
    /// Wakes a validation worker when an upload becomes `received`.
    pub validation_wanted: tokio::sync::Notify,
}

fn storage_error(err: StorageError) -> ApiError {
    match err {
        StorageError::Unavailable(why) => ApiError::StorageUnavailable(why),
        refused @ StorageError::Refused { .. } => ApiError::StorageUnavailable(refused.to_string()),
    }
}

/// Part size for a file of `length` bytes: at least `wanted`, large enough for at most 10,000 parts.
pub fn part_size(length: u64, wanted: u64) -> u64 {
    let least = length.div_ceil(MAX_PARTS);
    if least <= wanted {
        wanted.max(1)
    } else {
        // Whole MiB, as S3 users expect part sizes.
        least.div_ceil(1024 * 1024) * 1024 * 1024
    }
}

impl Uploads {
    /// What an upload of `table` of `name` needs to know (through the read cache).
    async fn target(&self, name: &ProductName, table: &TableName) -> Result<Target, ApiError> {
        let (head, table) = crate::catalog::upload_target(&self.db, name, table).await?;
        Ok(Target {
            domain: head.domain.clone(),
            deleted: head.deleted_at.is_some(),
            major: head.latest.major as i32,
            version: head.latest.to_string(),
            columns: table.map(|t| t.columns.into_iter().map(|c| c.name).collect()),
        })
    }

    /// Registers an upload of `table` of the latest version of `name`, with its presigned
    /// URL(s). `answer` renders the response to store with it for an idempotency key, if any:
    /// then the row and the answer commit together; otherwise one INSERT suffices.
    pub async fn create(
        &self,
        who: &Principal,
        name: &ProductName,
        table: &TableName,
        new: NewUpload,
        answer: impl FnOnce(&UploadRow, &Transfer) -> Option<Answer>,
    ) -> Result<(UploadRow, Transfer), ApiError> {
        let target = self.target(name, table).await?;
        if target.deleted {
            return Err(ApiError::Conflict(format!(
                "data product `{name}` is deleted; restore it before uploading to it"
            )));
        }
        who.require_domain(&target.domain)?;
        let Some(column_names) = target.columns else {
            return Err(ApiError::not_found(format_args!(
                "table `{table}` in the latest version ({}) of `{name}`",
                target.version
            )));
        };

        let id = uuid::Uuid::new_v4().to_string();
        let now = Utc::now();
        let key = format!(
            "landing/{name}/v{}/{table}/load_timestamp={}/{id}.{}",
            target.major,
            now.format("%Y%m%dT%H%M%SZ"),
            new.format.ext()
        );
        let ttl = self.config.url_ttl;
        let expires_at = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(15));
        let ct = new.content_type.as_deref();
        let (transfer, multipart_id, part) = if new.content_length > self.config.multipart_threshold {
            let size = part_size(new.content_length, self.config.part_size);
            let upload_id = self.storage.create_multipart(&key, ct).await.map_err(storage_error)?;
            let count = new.content_length.div_ceil(size);
            let first = self
                .presign_parts(&key, &upload_id, new.content_length, size, 1, PARTS_IN_ANSWER.min(count), ttl)
                .await?;
            (
                Transfer::Multipart { part_size: size, part_count: count, parts: first },
                Some(upload_id),
                Some(size as i64),
            )
        } else {
            let url = self
                .storage
                .presign_put(&key, &new.content_md5, new.content_length, ct, ttl)
                .await
                .map_err(storage_error)?;
            (Transfer::Single(url), None, None)
        };

        let row = UploadRow {
            seq: 0,
            id,
            data_product: name.as_str().to_owned(),
            version: target.version,
            table_name: table.as_str().to_owned(),
            columns: column_names,
            filename: new.filename,
            format: new.format,
            content_type: new.content_type,
            content_length: new.content_length as i64,
            content_md5: new.content_md5,
            bucket: self.storage.bucket().to_owned(),
            object_key: key,
            multipart_id,
            part_size: part,
            status: Status::Pending,
            size: None,
            etag: None,
            received_at: None,
            rejection: None,
            expires_at,
            lease_until: None,
            created_at: now,
            created_by: who.sub.clone(),
            updated_at: now,
            validation: None,
            validation_lease: None,
            validation_attempts: 0,
        };
        let answer = answer(&row, &transfer);
        Ok((store::insert(&self.db, row, answer).await?, transfer))
    }

    /// Presigned URLs of `count` parts from part number `from` (1-based) of a file of
    /// `length` bytes cut in parts of `size`.
    #[allow(clippy::too_many_arguments)]
    async fn presign_parts(
        &self,
        key: &str,
        upload_id: &str,
        length: u64,
        size: u64,
        from: u64,
        count: u64,
        ttl: Duration,
    ) -> Result<Vec<(i32, u64, Presigned)>, ApiError> {
        let mut parts = Vec::with_capacity(count as usize);
        for number in from..from + count {
            let len = size.min(length - (number - 1) * size);
            let url =
                self.storage.presign_part(key, upload_id, number as i32, len, ttl).await.map_err(storage_error)?;
            parts.push((number as i32, len, url));
        }
        Ok(parts)
    }

    /// Up to `limit` part URLs of a pending multipart upload from part number `from`, valid
    /// until the upload's `expiresAt`; only for those who may write to its product.
    pub async fn part_urls(&self, who: &Principal, id: &str, from: u64, limit: u64) -> Result<PartPage, ApiError> {
        let row = self.writable(who, id).await?;
        let (Some(upload_id), Some(size)) = (row.multipart_id.as_deref(), row.part_size) else {
            return Err(ApiError::Conflict(format!(
                "upload `{id}` is a single PUT, not a multipart upload; its URL was in the create answer"
            )));
        };
        if row.status != Status::Pending {
            return Err(ApiError::Conflict(format!("upload `{id}` is {}, not pending", row.status)));
        }
        let left = (row.expires_at - Utc::now()).to_std().unwrap_or_default();
        if left < Duration::from_secs(1) {
            return Err(ApiError::Conflict(format!("upload `{id}` expired at {}", row.expires_at.to_rfc3339())));
        }
        let (length, size) = (row.content_length.max(1) as u64, size.max(1) as u64);
        let part_count = length.div_ceil(size);
        if from > part_count {
            return Err(ApiError::MalformedRequest(format!(
                "bad `from`: upload `{id}` has {part_count} parts, numbered from 1"
            )));
        }
        let count = limit.min(part_count - from + 1);
        let parts = self.presign_parts(&row.object_key, upload_id, length, size, from, count, left).await?;
        let next = from + count;
        Ok(PartPage { parts, part_count, next_from: (next <= part_count).then_some(next) })
    }

    /// One upload by id.
    pub async fn get(&self, id: &str) -> Result<UploadRow, ApiError> {
        self.find(id).await?.ok_or_else(|| ApiError::not_found(format_args!("upload `{id}`")))
    }

    /// One upload by id, if it (still) exists.
    pub async fn find(&self, id: &str) -> Result<Option<UploadRow>, ApiError> {
        Ok(store::find(&self.db.conn, id).await?)
    }

    /// A page of a product's uploads, newest first, and the position to continue after.
    pub async fn list(
        &self,
        name: &ProductName,
        status: Option<Status>,
        table: Option<&TableName>,
        before: Option<i64>,
        limit: u64,
    ) -> Result<(Vec<UploadRow>, Option<i64>), ApiError> {
        let product = q::find_product(&self.db.conn, name.as_str(), false)
            .await?
            .ok_or_else(|| ApiError::not_found(format_args!("data product `{name}`")))?;
        let filter = UploadFilter {
            data_product: name.as_str(),
            since: product.created_at,
            status,
            table: table.map(TableName::as_str),
            before,
        };
        Ok(store::page(&self.db.conn, &filter, limit).await?)
    }

    /// Applies `change` to `row` and appends its event, in one transaction; `false` when
    /// another actor changed the status first.
    async fn transition(&self, row: &UploadRow, change: Change, data: serde_json::Value) -> Result<bool, ApiError> {
        let (_, to) = change.statuses();
        let event = event_of(to).map(|event_type| {
            let mut body = serde_json::json!({ "uploadId": row.id, "status": to.as_str(), "key": row.object_key });
            if let (Some(obj), serde_json::Value::Object(more)) = (body.as_object_mut(), data) {
                obj.extend(more);
            }
            NewEvent {
                event_type,
                data_product: row.data_product.clone(),
                version: Some(row.version.clone()),
                table: Some(row.table_name.clone()),
                actor: SERVICE_ACTOR.to_owned(),
                data: body,
            }
        });
        if !store::transition(&self.db, &row.id, change, event).await? {
            return Ok(false);
        }
        self.metrics.upload(to.as_str());
        Ok(true)
    }

    /// The object of a pending upload is in storage: mark it received (once).
    pub async fn mark_received(&self, row: &UploadRow, info: &ObjectInfo) -> Result<bool, ApiError> {
        let change = Change::Received { size: info.size, etag: info.etag.clone(), at: Utc::now() };
        let done = self.transition(row, change, serde_json::json!({ "size": info.size, "etag": info.etag })).await?;
        if done {
            self.validation_wanted.notify_one();
        }
        Ok(done)
    }

    /// Asks for the file of a received upload to be checked: a validation worker takes it
    /// (see `validator`), off the request path.
    pub async fn validate(&self, _row: &UploadRow) -> Result<Status, ApiError> {
        self.validation_wanted.notify_one();
        Ok(Status::Received)
    }

    /// Records the verdict on a received upload's file: `validated`, or `rejected` with the
    /// reason; `false` when another worker recorded one first.
    pub async fn record_validation(&self, row: &UploadRow, outcome: &validate::Outcome) -> Result<bool, ApiError> {
        let report = serde_json::to_value(&outcome.report)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("validation report: {e}")))?;
        let data = match &outcome.rejection {
            None => serde_json::json!({ "validation": report }),
            Some(reason) => serde_json::json!({ "rejection": reason, "validation": report }),
        };
        let change = Change::Checked { validation: report, rejection: outcome.rejection.clone() };
        self.transition(row, change, data).await
    }

    /// The object was seen (HEAD, storage event or completed multipart): received, then checked.
    pub async fn on_object(&self, row: &UploadRow, info: &ObjectInfo) -> Result<(), ApiError> {
        if row.status == Status::Pending {
            self.mark_received(row, info).await?;
        }
        // A purge may have removed the row meanwhile: then the object belongs to nothing.
        let Some(fresh) = self.find(&row.id).await? else {
            return Ok(());
        };
        if fresh.status == Status::Received {
            self.validate(&fresh).await?;
        }
        Ok(())
    }

    /// A pending upload whose URL ran out without an object: expired (its parts, if any, aborted).
    pub async fn expire(&self, row: &UploadRow, reason: &str) -> Result<bool, ApiError> {
        if let Some(upload_id) = &row.multipart_id
            && let Err(err) = self.storage.abort_multipart(&row.object_key, upload_id).await
        {
            // A multipart upload the store no longer knows is as good as aborted.
            if let StorageError::Unavailable(_) = err {
                return Err(storage_error(err));
            }
        }
        self.transition(row, Change::Expired, serde_json::json!({ "reason": reason })).await
    }

    /// Completes a pending multipart upload from its parts' ETags, then tracks the object.
    pub async fn complete(&self, who: &Principal, id: &str, parts: Vec<(i32, String)>) -> Result<UploadRow, ApiError> {
        let row = self.writable(who, id).await?;
        let Some(upload_id) = row.multipart_id.clone() else {
            return Err(ApiError::Conflict(format!(
                "upload `{id}` is a single PUT, not a multipart upload; there is nothing to complete"
            )));
        };
        if row.status != Status::Pending {
            return Err(ApiError::Conflict(format!("upload `{id}` is {}, not pending", row.status)));
        }
        if row.expires_at <= Utc::now() {
            return Err(ApiError::Conflict(format!("upload `{id}` expired at {}", row.expires_at.to_rfc3339())));
        }
        let mut parts = parts;
        parts.sort_by_key(|(n, _)| *n);
        match self.storage.complete_multipart(&row.object_key, &upload_id, &parts).await {
            Ok(()) => {}
            Err(StorageError::Refused { code, message }) => {
                return Err(ApiError::Validation(vec![FieldError::new(
                    "/parts",
                    format!("the object store refused the parts: {code}: {message}"),
                )]));
            }
            Err(err) => return Err(storage_error(err)),
        }
        if let Some(info) = self.storage.head(&row.bucket, &row.object_key).await.map_err(storage_error)? {
            self.mark_received(&row, &info).await?;
        }
        self.get(id).await
    }

    /// Aborts a pending multipart upload: its parts are discarded and it is marked expired.
    pub async fn abort(&self, who: &Principal, id: &str) -> Result<(), ApiError> {
        let row = self.writable(who, id).await?;
        if row.multipart_id.is_none() {
            return Err(ApiError::Conflict(format!(
                "upload `{id}` is a single PUT; its URL cannot be revoked and expires at {}",
                row.expires_at.to_rfc3339()
            )));
        }
        if row.status != Status::Pending {
            return Err(ApiError::Conflict(format!("upload `{id}` is {}, not pending", row.status)));
        }
        if !self.expire(&row, "aborted").await? {
            return Err(ApiError::Conflict(format!("upload `{id}` is no longer pending")));
        }
        Ok(())
    }

    /// The upload, when `who` may write to its product.
    async fn writable(&self, who: &Principal, id: &str) -> Result<UploadRow, ApiError> {
        let row = self.get(id).await?;
        match q::find_product(&self.db.conn, &row.data_product, true).await? {
            // An upload of a purged product (or of an earlier product of the same name) is
            // nobody's to complete or abort.
            Some(product) if product.created_at <= row.created_at => who.require_domain(&product.domain)?,
            _ => return Err(ApiError::not_found(format_args!("upload `{id}`"))),
        }
        Ok(row)
    }

    /// Storage notified that `key` was written in `bucket`: the upload it belongs to, if pending.
    pub async fn by_object(&self, bucket: &str, key: &str) -> Result<Option<UploadRow>, ApiError> {
        Ok(store::by_object(&self.db.conn, bucket, key).await?)
    }
}

/// URL-decodes an S3 event key (`+` is a space, `%xx` a byte).
pub fn decode_key(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_are_url_decoded() {
        assert_eq!(decode_key("landing/a+b/x%3Dy.csv").as_deref(), Some("landing/a b/x=y.csv"));
        assert_eq!(decode_key("bad%zz"), None);
        assert_eq!(decode_key("cut%4"), None);
    }

    #[test]
    fn part_sizes_keep_to_ten_thousand_parts() {
        assert_eq!(part_size(100, 40), 40);
        let five_tib = MAX_FILE;
        let size = part_size(five_tib, 64 * 1024 * 1024);
        assert!(five_tib.div_ceil(size) <= MAX_PARTS);
        assert!(size <= 5 * 1024 * 1024 * 1024);
    }

    #[test]
    fn formats_come_from_the_extension() {
        assert_eq!(FileFormat::of_filename("a.CSV"), Some(FileFormat::Csv));
        assert_eq!(FileFormat::of_filename("a.jsonl"), Some(FileFormat::Jsonl));
        assert_eq!(FileFormat::of_filename("a.parquet"), Some(FileFormat::Parquet));
        assert_eq!(FileFormat::of_filename("a.txt"), None);
        assert_eq!(FileFormat::of_filename("csv"), None);
    }
}
