//! Uploads: presigned upload URLs for a table's files, their tracking, multipart
//! completion and abort, and `POST /v1/storage-events` for bucket notifications.
use std::collections::BTreeMap;

use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Header, Path, Query},
};

use super::{
    ApiTags,
    dto::timestamp,
    input::{CompleteUpload, CreateUpload, JsonBody, StorageEvents},
    params,
    typed::{IdempotencyKey, ProductNameParam, TableNameParam},
};
use super::{
    json::Json,
    problem::{Reply, sets},
};
use crate::{
    auth::{BearerAuth, Principal, Scope},
    error::ApiError,
    idempotency::{Idem, StoredResponse},
    state::AppState,
    storage::Presigned,
    uploads::{Status, Transfer, UploadRow},
};

/// Marks a request authenticated with `DAAP_STORAGE_EVENTS_TOKEN` (only `POST /v1/storage-events`).
#[derive(Debug, Clone, Copy)]
pub struct StorageEventsCaller;

/// The `sub` of requests authenticated with `DAAP_STORAGE_EVENTS_TOKEN`.
pub const STORAGE_EVENTS_SUB: &str = "storage-events";

/// Where an upload is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "UploadStatus", rename_all = "lowercase")]
pub enum UploadStatusDto {
    /// Waiting for the file (until `expiresAt`).
    Pending,
    /// The object is in storage (`size`, `etag`, `receivedAt`); a validation worker checks it.
    Received,
    /// Every row of the file was checked against the table and broke no rule (an object over
    /// `DAAP_VALIDATE_MAX_BYTES`: its header/schema only, with `validation.complete: false`).
    Validated,
    /// The file does not match the table; `rejection` and `validation.samples` say why.
    Rejected,
    /// No file arrived before `expiresAt` (or a multipart upload was aborted).
    Expired,
}

impl From<UploadStatusDto> for Status {
    fn from(s: UploadStatusDto) -> Status {
        match s {
            UploadStatusDto::Pending => Status::Pending,
            UploadStatusDto::Received => Status::Received,
            UploadStatusDto::Validated => Status::Validated,
            UploadStatusDto::Rejected => Status::Rejected,
            UploadStatusDto::Expired => Status::Expired,
        }
    }
}

/// `POST /v1/data-products/{name}/schemas/{table}/uploads`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none, example)]
pub struct UploadCreate {
    /// The file's name; it must end in `.csv`, `.json`, `.jsonl` or `.parquet` (1..=1024 characters),
    /// without control characters, line breaks or bidirectional formatting characters.
    #[oai(validator(
        min_length = 5,
        max_length = 1024,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u2028-\u202E\u2066-\u2069]*\.([Cc][Ss][Vv]|[Jj][Ss][Oo][Nn]|[Jj][Ss][Oo][Nn][Ll]|[Pp][Aa][Rr][Qq][Uu][Ee][Tt])$"
    ))]
    pub filename: String,
    /// The file's size in bytes, 1..=5 TiB; signed into the URL.
    #[oai(validator(minimum(value = "1"), maximum(value = "5497558138880")))]
    pub content_length: u64,
    /// Base64 of the file's 16-byte MD5 digest (24 characters); signed into the URL, so the
    /// store refuses any other body. Unused for multipart uploads (parts carry no MD5).
    #[oai(validator(pattern = r"^[A-Za-z0-9+/]{21}[AQgw]==$"))]
    pub content_md5: String,
    /// The `Content-Type` the PUT will send (signed into the URL when given).
    #[oai(validator(max_length = 255, pattern = r"^[ -~]+$"))]
    pub content_type: Option<String>,
}

/// One part of a multipart upload: PUT exactly `size` bytes to `url` with `headers`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct UploadPartUrl {
    /// 1-based.
    pub part_number: i32,
    /// Presigned `UploadPart` URL (a secret: anyone holding it may upload this part).
    pub url: String,
    /// Bytes of this part.
    pub size: u64,
    /// Every header the PUT must send.
    pub headers: BTreeMap<String, String>,
}

/// An upload and where it is in its life.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct Upload {
    /// The upload's id (a UUID).
    pub id: String,
    // `pending`, `received`, `validated`, `rejected` or `expired`.
    pub status: UploadStatusDto,
    /// The data product (plain name).
    pub data_product: String,
    /// The latest version when the upload was created; the file is checked against it.
    pub version: String,
    /// The table (plain name).
    pub table: String,
    /// The file's name as the producer gave it.
    pub filename: String,
    /// The declared size in bytes.
    pub content_length: u64,
    /// The declared MD5 (base64).
    pub content_md5: String,
    /// The declared `Content-Type`.
    pub content_type: Option<String>,
    /// The bucket the file lands in.
    pub bucket: String,
    /// `landing/<name>/v<major>/<table>/load_timestamp=<YYYYMMDDTHHMMSSZ>/<id>.<ext>`.
    pub key: String,
    /// The presigned PUT URL (single uploads, in the create answer only: it is a secret).
    pub url: Option<String>,
    /// `PUT`.
    pub method: String,
    /// Every header the PUT must send (single uploads, in the create answer only).
    pub headers: Option<BTreeMap<String, String>>,
    /// Bytes per part (multipart uploads).
    pub part_size: Option<u64>,
    /// How many parts the file is cut in (multipart uploads).
    pub part_count: Option<u64>,
    /// Presigned URLs of the first parts, at most 100 (multipart uploads, in the create answer
    /// only); the others come from `GET /v1/uploads/{id}/parts?from=101`.
    pub parts: Option<Vec<UploadPartUrl>>,
    /// When the URL(s) stop working; a pending upload expires then.
    pub expires_at: super::dto::Timestamp,
    /// The object's size (once received).
    pub size: Option<i64>,
    /// The object's ETag (once received).
    pub etag: Option<String>,
    /// When the object was noticed.
    pub received_at: Option<super::dto::Timestamp>,
    /// Why the file was rejected: the missing and unknown columns, or what else is wrong.
    pub rejection: Option<String>,
    // What validation read and found (once the file was checked); never shows a value.
    pub validation: Option<super::preview::UploadValidation>,
    /// When the upload was created (RFC 3339 UTC).
    pub created_at: super::dto::Timestamp,
    /// The principal that asked for the upload.
    pub created_by: String,
}

fn header_map(p: &Presigned) -> BTreeMap<String, String> {
    p.headers.iter().cloned().collect()
}

fn part_urls(parts: &[(i32, u64, Presigned)]) -> Vec<UploadPartUrl> {
    parts
        .iter()
        .map(|(n, size, p)| UploadPartUrl { part_number: *n, url: p.url.clone(), size: *size, headers: header_map(p) })
        .collect()
}

/// A page of a multipart upload's part URLs.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct UploadPartPage {
    /// The parts of this page, by part number.
    pub items: Vec<UploadPartUrl>,
    /// How many parts the file is cut in.
    pub part_count: u64,
    /// Pass as `from` for the next page; absent after the last part.
    pub next_from: Option<u64>,
}

impl Upload {
    fn of(row: &UploadRow, transfer: Option<&Transfer>) -> Upload {
        let status = match Some(row.status) {
            Some(Status::Received) => UploadStatusDto::Received,
            Some(Status::Validated) => UploadStatusDto::Validated,
            Some(Status::Rejected) => UploadStatusDto::Rejected,
            Some(Status::Expired) => UploadStatusDto::Expired,
            _ => UploadStatusDto::Pending,
        };
        let (url, headers, parts) = match transfer {
            Some(Transfer::Single(p)) => (Some(p.url.clone()), Some(header_map(p)), None),
            Some(Transfer::Multipart { parts, .. }) => (None, None, Some(part_urls(parts))),
            None => (None, None, None),
        };
        Upload {
            id: row.id.clone(),
            status,
            data_product: row.data_product.clone(),
            version: row.version.clone(),
            table: row.table_name.clone(),
            filename: row.filename.clone(),
            content_length: row.content_length.max(0) as u64,
            content_md5: row.content_md5.clone(),
            content_type: row.content_type.clone(),
            bucket: row.bucket.clone(),
            key: row.object_key.clone(),
            url,
            method: "PUT".to_owned(),
            headers,
            part_size: row.part_size.map(|p| p.max(0) as u64),
            part_count: row.part_size.map(|p| (row.content_length.max(0) as u64).div_ceil(p.max(1) as u64)),
            parts,
            expires_at: timestamp(row.expires_at),
            size: row.size,
            etag: row.etag.clone(),
            received_at: row.received_at.map(timestamp),
            rejection: row.rejection.clone(),
            validation: row.validation.as_ref().and_then(super::preview::UploadValidation::of_stored),
            created_at: timestamp(row.created_at),
            created_by: row.created_by.clone(),
        }
    }
}

/// A page of uploads, newest first.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct UploadPage {
    /// The uploads of this page.
    pub items: Vec<Upload>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A part of a completed multipart upload.
#[derive(Debug, Clone, Object)]
#[oai(rename = "CompletedPart", rename_all = "camelCase")]
pub struct CompletedPartDto {
    /// 1..=10000, each number once.
    #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
    pub part_number: i32,
    /// The `ETag` header the store answered the part's PUT with (quotes optional; no control
    /// characters).
    #[oai(validator(min_length = 1, max_length = 128, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"))]
    pub etag: String,
}

/// `POST /v1/uploads/{id}/complete`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct UploadComplete {
    /// Every part, each number once (1..=10,000 parts).
    #[oai(validator(min_items = 1, max_items = 10000))]
    pub parts: Vec<CompletedPartDto>,
}

/// The bucket of an S3 event record.
#[derive(Debug, Clone, Object)]
pub struct StorageEventBucket {
    /// The bucket's name (required in an `ObjectCreated:*` record; no control characters).
    #[oai(validator(pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"))]
    pub name: Option<String>,
}

/// The object of an S3 event record; `key` URL-encoded as S3 sends it.
#[derive(Debug, Clone, Object)]
pub struct StorageEventObject {
    /// The object's key, URL-encoded (`+` for a space, `%xx` for a byte); required in an
    /// `ObjectCreated:*` record. Neither it nor what it decodes to may hold control characters.
    #[oai(validator(
        pattern = r"^(?:[^%\u0000-\u001F\u007F-\u009F]|%(?:[2-6][0-9A-Fa-f]|7[0-9A-Ea-e]|[89A-Fa-f][0-9A-Fa-f]))*$"
    ))]
    pub key: Option<String>,
    /// The object's size (informative: the service HEADs the object).
    pub size: Option<i64>,
    /// The object's ETag (informative).
    #[oai(rename = "eTag")]
    pub e_tag: Option<String>,
}

/// The `s3` member of an S3 event record.
#[derive(Debug, Clone, Object)]
pub struct StorageEventS3 {
    // Where the object is.
    pub bucket: Option<StorageEventBucket>,
    // The object.
    pub object: Option<StorageEventObject>,
}

/// One S3 event notification record; other members are accepted and ignored, and so are
/// records of other event types, whatever their shape. An `ObjectCreated:*` record without
/// `s3.bucket.name` or `s3.object.key` is refused with 422.
#[derive(Debug, Clone, Object)]
pub struct StorageEventRecord {
    /// Only `ObjectCreated:*` (also `s3:ObjectCreated:*`) records are acted on.
    #[oai(rename = "eventName")]
    pub event_name: Option<String>,
    // The bucket and object (required in an `ObjectCreated:*` record).
    pub s3: Option<StorageEventS3>,
}

/// An S3 event notification (`{ "Records": [...] }`), as S3, SNS/SQS relays, MinIO or Ceph
/// send it. An SNS envelope (`{ "Type": "Notification", "Message": "<the JSON>" }`) is
/// unwrapped; a body without `Records` (such as `s3:TestEvent`) matches nothing.
#[derive(Debug, Clone, Object)]
pub struct StorageEventBatch {
    /// The event records.
    #[oai(rename = "Records")]
    pub records: Option<Vec<StorageEventRecord>>,
}

/// What a storage event notification did.
#[derive(Debug, Clone, Object)]
pub struct StorageEventResult {
    /// Records in the notification.
    pub records: u32,
    /// `ObjectCreated` records whose bucket and key belong to a pending or received upload;
    /// the others (unknown keys or buckets, other event types) are ignored.
    pub matched: u32,
}

pub struct UploadsApi;

#[derive(ApiResponse)]
pub enum CreateResponse {
    /// The upload is registered (`pending`); PUT the file to `url` with `headers` (or each part).
    #[oai(status = 201)]
    Created(
        Json<Upload>,
        /// URL of the upload.
        #[oai(header = "Location")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum GetResponse {
    /// The upload.
    #[oai(status = 200)]
    Ok(Json<Upload>),
}

#[derive(ApiResponse)]
pub enum ListResponse {
    /// A page of the product's uploads, newest first.
    #[oai(status = 200)]
    Ok(Json<UploadPage>),
}

#[derive(ApiResponse)]
pub enum PartsResponse {
    /// Presigned URLs of the requested parts, valid until the upload's `expiresAt`.
    #[oai(status = 200)]
    Ok(Json<UploadPartPage>),
}

#[derive(ApiResponse)]
pub enum CompleteResponse {
    /// The parts were assembled; the upload is `received` and its file is being checked.
    #[oai(status = 200)]
    Ok(Json<Upload>),
}

#[derive(ApiResponse)]
pub enum AbortResponse {
    /// The multipart upload was aborted and the upload marked `expired`.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum StorageEventsResponse {
    /// The notification was processed.
    #[oai(status = 200)]
    Ok(Json<StorageEventResult>),
}

fn upload_id(raw: &str) -> Result<String, ApiError> {
    // Only the hyphenated form the service hands out (`Uuid` would also take others).
    (raw.len() == 36)
        .then(|| uuid::Uuid::parse_str(raw).ok())
        .flatten()
        .ok_or(())
        .map(|u| u.to_string())
        .map_err(|_| ApiError::MalformedRequest(format!("bad upload id `{raw}`: an upload id is a UUID")))
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Uploads")]
impl UploadsApi {
    /// Get an upload URL for a file of a table
    ///
    /// Registers an upload of one file of `table` (in the latest version) and answers with
    /// a presigned PUT URL signed for exactly the key, `Content-MD5` and `Content-Length`,
    /// valid for `DAAP_UPLOAD_URL_TTL` (15 minutes by default). Send the file with every
    /// header in `headers`, e.g. `curl -T file.csv -H "Content-MD5: ..." "<url>"`. Files
    /// over `DAAP_MULTIPART_THRESHOLD` (5 GiB by default) get `partSize`, `partCount` and the
    /// URLs of the first 100 parts instead (the others from `GET /v1/uploads/{id}/parts`);
    /// finish them with `POST /v1/uploads/{id}/complete`.
    ///
    /// Needs `daap:write` (and the product's domain, when the token lists domains). 404 for
    /// an unknown product or table, 409 for a deleted product, 422 for a bad filename
    /// extension, length or MD5. Nothing is written for a refused request.
    #[oai(path = "/data-products/:name/schemas/:table/uploads", method = "post", operation_id = "createUpload")]
    async fn create_upload(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        who: Principal,
        idem: Idem,
        /// Makes a retry safe; see the `IdempotencyKey` schema.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKey>>,
        /// The product name.
        name: Path<ProductNameParam>,
        /// The table name.
        table: Path<TableNameParam>,
        body: JsonBody<CreateUpload>,
    ) -> Reply<CreateResponse, sets::StateWriteBody> {
        let name = params::product_name(&name)?;
        let table = params::table_name(&table)?;
        let (row, transfer) = state
            .uploads
            .create(&who, &name, &table, body.0.0, |row, transfer| {
                idem.store(|| {
                    let location = format!("/v1/uploads/{}", row.id);
                    StoredResponse::json(201, &Upload::of(row, Some(transfer)), &[("Location", &location)])
                })
            })
            .await?;
        let upload = Upload::of(&row, Some(&transfer));
        let location = format!("/v1/uploads/{}", row.id);
        state.metrics.upload(Status::Pending.as_str());
        Ok(CreateResponse::Created(Json(upload), location).into())
    }

    /// Read an upload
    ///
    /// The upload's status: `pending` -> `received` (with `size`, `etag`, `receivedAt`) ->
    /// `validated` or `rejected` (with `rejection`), or `expired`. Presigned URLs are only in
    /// the create answer. Needs `daap:read`.
    #[oai(path = "/uploads/:id", method = "get", operation_id = "getUpload")]
    async fn get_upload(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// The upload id.
        id: Path<String>,
    ) -> Reply<GetResponse, sets::Read> {
        let row = state.uploads.get(&upload_id(&id)?).await?;
        Ok(GetResponse::Ok(Json(Upload::of(&row, None))).into())
    }

    /// List a data product's uploads
    ///
    /// Newest first, filtered by `status` and `table`. Needs `daap:read`.
    #[oai(path = "/data-products/:name/uploads", method = "get", operation_id = "listUploads")]
    async fn list_uploads(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// The product name.
        name: Path<ProductNameParam>,
        /// Only uploads with this status.
        status: Query<Option<UploadStatusDto>>,
        /// Only uploads of this table.
        table: Query<Option<String>>,
        /// Page size.
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<u32>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Reply<ListResponse, sets::Read> {
        let name = params::product_name(&name)?;
        let table = table.0.as_deref().map(params::table_name).transpose()?;
        let before = cursor
            .0
            .as_deref()
            .map(|c| {
                params::decode_cursor('u', c)?.parse::<i64>().map_err(|_| {
                    ApiError::MalformedRequest(format!("bad cursor `{c}`: pass back a `nextCursor` unchanged"))
                })
            })
            .transpose()?;
        let (rows, next) =
            state.uploads.list(&name, status.0.map(Status::from), table.as_ref(), before, u64::from(limit.0)).await?;
        Ok(ListResponse::Ok(Json(UploadPage {
            items: rows.iter().map(|r| Upload::of(r, None)).collect(),
            next_cursor: next.map(|n| params::encode_cursor('u', &n.to_string())),
        }))
        .into())
    }

    /// Page through a multipart upload's part URLs
    ///
    /// Presigned `UploadPart` URLs for `limit` parts (1..=1000, default 100) from part number
    /// `from` (default 1), each with its `size` and `headers`, valid until the upload's
    /// `expiresAt`; `nextFrom` is where the next page starts (absent after the last part). The
    /// create answer holds the first 100. The URLs are secrets that let their holder write: this
    /// needs `daap:write` (and the product's domain, when the token lists domains), like
    /// completing the upload. 409 when the upload is not a pending multipart upload or has expired;
    /// 400 when `from` is past the last part.
    #[oai(path = "/uploads/:id/parts", method = "get", operation_id = "listUploadParts")]
    async fn list_upload_parts(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        who: Principal,
        /// The upload id.
        id: Path<String>,
        /// The first part number of the page (1-based).
        #[oai(default = "first_part", validator(minimum(value = "1"), maximum(value = "10000")))]
        from: Query<u32>,
        /// Parts in the page.
        #[oai(default = "default_parts", validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<u32>,
    ) -> Reply<PartsResponse, sets::ReadState> {
        who.require(Scope::Write)?;
        let id = upload_id(&id)?;
        let page = state.uploads.part_urls(&who, &id, u64::from(from.0), u64::from(limit.0)).await?;
        Ok(PartsResponse::Ok(Json(UploadPartPage {
            items: part_urls(&page.parts),
            part_count: page.part_count,
            next_from: page.next_from,
        }))
        .into())
    }

    /// Complete a multipart upload
    ///
    /// Assembles the parts from their numbers and the ETags the store answered each part's
    /// PUT with; the upload becomes `received` and its file is checked. 409 when the upload
    /// is not a pending multipart upload (or has expired); 422 when the store refuses the
    /// parts (a wrong ETag, a missing part, a part under 5 MiB but the last). Needs `daap:write`.
    #[oai(path = "/uploads/:id/complete", method = "post", operation_id = "completeUpload")]
    async fn complete_upload(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        who: Principal,
        /// Makes a retry safe; see the `IdempotencyKey` schema.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKey>>,
        /// The upload id.
        id: Path<String>,
        body: JsonBody<CompleteUpload>,
    ) -> Reply<CompleteResponse, sets::StateWriteBody> {
        let id = upload_id(&id)?;
        let row = state.uploads.complete(&who, &id, body.0.parts).await?;
        if row.status == Status::Received {
            let uploads = state.uploads.clone();
            let received = row.clone();
            tokio::spawn(async move {
                if let Err(err) = uploads.validate(&received).await {
                    tracing::warn!(upload = %received.id, error = %err, "cannot check an upload now; the reconciler will");
                }
            });
        }
        Ok(CompleteResponse::Ok(Json(Upload::of(&row, None))).into())
    }

    /// Abort a multipart upload
    ///
    /// Discards the parts uploaded so far and marks the upload `expired`. Only pending
    /// multipart uploads can be aborted (409 otherwise: a single PUT URL cannot be revoked,
    /// it expires at `expiresAt`). Needs `daap:write`.
    #[oai(path = "/uploads/:id", method = "delete", operation_id = "abortUpload")]
    async fn abort_upload(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        who: Principal,
        /// Makes a retry safe; see the `IdempotencyKey` schema.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKey>>,
        /// The upload id.
        id: Path<String>,
    ) -> Reply<AbortResponse, sets::StateWrite> {
        state.uploads.abort(&who, &upload_id(&id)?).await?;
        Ok(AbortResponse::NoContent.into())
    }

    /// Receive S3 event notifications
    ///
    /// For bucket notifications (S3 via SNS/SQS relays, MinIO or Ceph webhooks): every
    /// `ObjectCreated:*` record whose bucket and key (URL-encoded, as S3 sends it) belong to a
    /// pending upload marks it `received` and starts its check, at once rather than at the
    /// reconciler's next pass. Records of unknown buckets or keys, and other event types, are
    /// ignored (`matched` counts the rest). Needs `daap:admin`, or `Authorization: Bearer
    /// <DAAP_STORAGE_EVENTS_TOKEN>` when that is set.
    #[oai(path = "/storage-events", method = "post", operation_id = "receiveStorageEvents")]
    async fn receive_storage_events(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: BearerAuth,
        who: Principal,
        /// Makes a retry safe; see the `IdempotencyKey` schema.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKey>>,
        body: JsonBody<StorageEvents>,
    ) -> Reply<StorageEventsResponse, sets::Submit> {
        if req.extensions().get::<StorageEventsCaller>().is_none() {
            who.require(Scope::Admin)?;
        }
        let events = body.0;
        let mut matched = 0u32;
        for record in &events.created {
            let Some(row) = state.uploads.by_object(&record.bucket, &record.key).await? else {
                continue;
            };
            matched += 1;
            let Some(info) = state
                .uploads
                .storage
                .head(&row.bucket, &row.object_key)
                .await
                .map_err(|e| ApiError::StorageUnavailable(e.to_string()))?
            else {
                // Announced but not visible yet: the reconciler will see it.
                continue;
            };
            if row.status == Status::Pending {
                state.uploads.mark_received(&row, &info).await?;
            }
            let uploads = state.uploads.clone();
            let id = row.id.clone();
            tokio::spawn(async move {
                // `None`: purged meanwhile; the object belongs to nothing.
                let checked = match uploads.find(&id).await {
                    Ok(Some(fresh)) if fresh.status == Status::Received => uploads.validate(&fresh).await.map(drop),
                    other => other.map(drop),
                };
                if let Err(err) = checked {
                    tracing::warn!(upload = %id, error = %err, "cannot check an upload now; the reconciler will");
                }
            });
        }
        Ok(StorageEventsResponse::Ok(Json(StorageEventResult { records: events.records, matched })).into())
    }
}

fn default_limit() -> u32 {
    50
}

fn first_part() -> u32 {
    1
}

fn default_parts() -> u32 {
    crate::uploads::PARTS_IN_ANSWER as u32
}

impl poem_openapi::types::Example for UploadCreate {
    /// A 58-byte CSV file (`incident_id,occurred_at,cost` and one row) and its MD5.
    fn example() -> Self {
        UploadCreate {
            filename: "incidents.csv".to_owned(),
            content_length: 58,
            content_md5: "dwMTBrhCPXtyU3+h7xi84Q==".to_owned(),
            content_type: Some("text/csv".to_owned()),
        }
    }
}

impl poem_openapi::types::Example for UploadComplete {
    fn example() -> Self {
        UploadComplete {
            parts: vec![
                CompletedPartDto { part_number: 1, etag: "\"6f1e2a0c9d1b4e1f8a2c3b4d5e6f7a8b\"".to_owned() },
                CompletedPartDto { part_number: 2, etag: "\"0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d\"".to_owned() },
            ],
        }
    }
}
