//! What validation found on an upload (`Upload.validation`), and
//! `GET /v1/uploads/{id}/preview`: the first rows of its file as typed JSON. Previews show
//! data, so only writers of the upload's own domain (and admins) may see them.
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, param::Query};

use super::ApiTags;
use super::{
    json::Json,
    problem::{Reply, sets},
};
use crate::{
    auth::{BearerAuth, Principal, Scope},
    error::ApiError,
    state::AppState,
    store::products as q,
    uploads::{
        FileFormat, Status,
        validate::{self, Object as StoredObject, Report},
        validator,
    },
};

/// One broken rule: where it was broken and which rule (never the value).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ValidationSample {
    /// The data row, counted from 1 (a CSV header row is not counted; nor are blank lines).
    pub row: u64,
    /// The table column (`*` for a rule about the whole row, such as a wrong number of fields).
    pub column: String,
    /// What was broken, e.g. `not an int`, `null in a not-nullable column`, `longer than varchar(20)`.
    pub rule: String,
}

/// What validation read and found.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct UploadValidation {
    /// Data rows read.
    pub rows_checked: u64,
    /// Bytes of the file read.
    pub bytes_checked: u64,
    /// Values (or rows) that broke a rule; any makes the upload `rejected`.
    pub violations: u64,
    /// The first (at most 100) violations.
    pub samples: Vec<ValidationSample>,
    /// True when every row was checked; false when only the header row / first record /
    /// Parquet schema was (an object over `DAAP_VALIDATE_MAX_BYTES`, or a file rejected for
    /// its columns before any row was read).
    pub complete: bool,
}

impl UploadValidation {
    /// From the report stored with the upload.
    pub fn of_stored(stored: &serde_json::Value) -> Option<UploadValidation> {
        let report: Report = serde_json::from_value(stored.clone()).ok()?;
        Some(UploadValidation {
            rows_checked: report.rows_checked,
            bytes_checked: report.bytes_checked,
            violations: report.violations,
            samples: report
                .samples
                .into_iter()
                .map(|s| ValidationSample { row: s.row, column: s.column, rule: s.rule })
                .collect(),
            complete: report.complete,
        })
    }
}

/// A column of a preview.
#[derive(Debug, Clone, Object)]
pub struct PreviewColumn {
    /// The column's name.
    pub name: String,
    /// Its type (canonical form).
    #[oai(rename = "type")]
    pub ty: String,
    /// Whether it may be null.
    pub nullable: bool,
}

/// The first rows of an upload's file.
#[derive(Debug, Clone, Object)]
pub struct UploadPreview {
    /// The table's columns (of the upload's version), in order.
    pub columns: Vec<PreviewColumn>,
    /// One object per row, with a member per column: integers, floats and booleans as JSON
    /// numbers and booleans, decimals, dates, timestamps and strings as strings, binaries as
    /// base64, arrays, maps and structs as JSON arrays and objects; missing or empty values
    /// `null`. A CSV cell that is not a value of its type is shown as the text it is.
    pub rows: Vec<serde_json::Value>,
}

#[derive(ApiResponse)]
pub enum PreviewResponse {
    /// The first rows.
    #[oai(status = 200)]
    Ok(Json<UploadPreview>),
}

pub struct PreviewApi;

fn upload_id(raw: &str) -> Result<String, ApiError> {
    (raw.len() == 36)
        .then(|| uuid::Uuid::parse_str(raw).ok())
        .flatten()
        .map(|u| u.to_string())
        .ok_or_else(|| ApiError::MalformedRequest(format!("bad upload id `{raw}`: an upload id is a UUID")))
}

fn default_limit() -> u32 {
    20
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Uploads")]
impl PreviewApi {
    /// Preview an upload's file
    ///
    /// The first `limit` rows of the file as JSON values of their column types, for a look
    /// before (or after) validation. Previews show data: only writers of the product's own
    /// domain and admins may see them (403 for read-only tokens and other domains). 409 while
    /// no file has arrived (`pending`, `expired`) or when the file cannot be read as rows of
    /// the table (its header does not match, say).
    #[oai(path = "/uploads/:id/preview", method = "get", operation_id = "previewUpload")]
    async fn preview_upload(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        who: Principal,
        /// The upload id.
        id: Path<String>,
        /// Rows to show.
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<u32>,
    ) -> Reply<PreviewResponse, sets::ReadState> {
        let id = upload_id(&id)?;
        who.require(Scope::Write)?;
        let uploads = &state.uploads;
        let row = uploads.get(&id).await?;
        let product = q::find_product(&uploads.db.conn, &row.data_product, true)
            .await?
            .ok_or_else(|| ApiError::not_found(format_args!("upload `{id}`")))?;
        who.require_domain(&product.domain)?;
        if matches!(row.status, Status::Pending | Status::Expired) {
            return Err(
                ApiError::Conflict(format!("upload `{id}` is {}: there is no file to preview", row.status)).into()
            );
        }
        let table = validator::table_of(uploads, &row).await?.map_err(ApiError::Conflict)?;
        let format = FileFormat::of_filename(&format!("f.{}", row.format))
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("stored upload format `{}`", row.format)))?;
        let size = row.size.unwrap_or(row.content_length).max(0) as u64;
        let object = StoredObject {
            storage: uploads.storage.clone(),
            bucket: row.bucket.clone(),
            key: row.object_key.clone(),
            size,
        };
        let rows = validate::preview(&object, format, &table, limit.0 as usize)
            .await
            .map_err(|e| ApiError::StorageUnavailable(e.to_string()))?
            .map_err(|why| ApiError::Conflict(format!("upload `{id}` cannot be previewed: {why}")))?;
        let columns = table
            .iter()
            .map(|c| PreviewColumn { name: c.name.clone(), ty: c.ty.to_string(), nullable: c.nullable })
            .collect();
        let rows = rows.into_iter().map(serde_json::Value::Object).collect();
        Ok(PreviewResponse::Ok(Json(UploadPreview { columns, rows })).into())
    }
}
