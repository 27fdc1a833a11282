//! Uploads as stored. A status only moves along `Change` (pending -> received ->
//! validated | rejected, pending -> expired), each move a compare-and-set on the status
//! written with its event in one transaction. Workers take rows by lease: `lease_until`
//! (and, for validation, `validation_lease`) set in one conditional UPDATE, with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL and the writer lock on SQLite.
use std::fmt;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::NotSet,
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, DeriveActiveEnum, EntityTrait, EnumIter, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Statement,
    sea_query::{Expr, ExprTrait as _, StringLen},
};

use super::{
    Db,
    entities::uploads,
    idempotency_keys::Answer,
    tx::{Autocommit, Write},
};
use crate::domain::event::NewEvent;

/// Where an upload is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum UploadStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "received")]
    Received,
    #[sea_orm(string_value = "validated")]
    Validated,
    #[sea_orm(string_value = "rejected")]
    Rejected,
    #[sea_orm(string_value = "expired")]
    Expired,
}

impl UploadStatus {
    pub const ALL: [UploadStatus; 5] = [Self::Pending, Self::Received, Self::Validated, Self::Rejected, Self::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Received => "received",
            Self::Validated => "validated",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<UploadStatus> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for UploadStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of file the service can check, from the filename's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum FileFormat {
    #[sea_orm(string_value = "csv")]
    Csv,
    #[sea_orm(string_value = "json")]
    Json,
    #[sea_orm(string_value = "jsonl")]
    Jsonl,
    #[sea_orm(string_value = "parquet")]
    Parquet,
}

impl FileFormat {
    pub fn of_filename(filename: &str) -> Option<FileFormat> {
        let (_, ext) = filename.rsplit_once('.')?;
        match ext.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "json" => Some(Self::Json),
            "jsonl" => Some(Self::Jsonl),
            "parquet" => Some(Self::Parquet),
            _ => None,
        }
    }

    pub fn ext(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
            Self::Jsonl => "jsonl",
            Self::Parquet => "parquet",
        }
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ext())
    }
}

/// A tracked upload.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    /// Its position in creation order (0 before it is stored).
    pub seq: i64,
    pub id: String,
    pub data_product: String,
    pub version: String,
    pub table_name: String,
    /// The table's column names in `version`, what the file is validated against.
    pub columns: Vec<String>,
    pub filename: String,
    pub format: FileFormat,
    pub content_type: Option<String>,
    pub content_length: i64,
    pub content_md5: String,
    pub bucket: String,
    pub object_key: String,
    pub multipart_id: Option<String>,
    pub part_size: Option<i64>,
    pub status: UploadStatus,
    pub size: Option<i64>,
    pub etag: Option<String>,
    pub received_at: Option<DateTime<Utc>>,
    pub rejection: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    /// The validation report (`uploads::validate::Report`), once the file was checked.
    pub validation: Option<serde_json::Value>,
    /// The validation worker holding a `received` upload until `lease_until`.
    pub validation_lease: Option<String>,
    /// How many times a validation worker took the upload.
    pub validation_attempts: i32,
}

impl From<uploads::Model> for Upload {
    fn from(row: uploads::Model) -> Upload {
        Upload {
            seq: row.seq,
            id: row.id,
            data_product: row.data_product,
            version: row.version,
            table_name: row.table_name,
            columns: serde_json::from_value(row.columns).unwrap_or_default(),
            filename: row.filename,
            format: row.format,
            content_type: row.content_type,
            content_length: row.content_length,
            content_md5: row.content_md5,
            bucket: row.bucket,
            object_key: row.object_key,
            multipart_id: row.multipart_id,
            part_size: row.part_size,
            status: row.status,
            size: row.size,
            etag: row.etag,
            received_at: row.received_at,
            rejection: row.rejection,
            expires_at: row.expires_at,
            lease_until: row.lease_until,
            created_at: row.created_at,
            created_by: row.created_by,
            updated_at: row.updated_at,
            validation: row.validation,
            validation_lease: row.validation_lease,
            validation_attempts: row.validation_attempts,
        }
    }
}

impl From<Upload> for uploads::Model {
    fn from(u: Upload) -> uploads::Model {
        uploads::Model {
            seq: u.seq,
            id: u.id,
            data_product: u.data_product,
            version: u.version,
            table_name: u.table_name,
            columns: serde_json::json!(u.columns),
            filename: u.filename,
            format: u.format,
            content_type: u.content_type,
            content_length: u.content_length,
            content_md5: u.content_md5,
            bucket: u.bucket,
            object_key: u.object_key,
            multipart_id: u.multipart_id,
            part_size: u.part_size,
            status: u.status,
            size: u.size,
            etag: u.etag,
            received_at: u.received_at,
            rejection: u.rejection,
            expires_at: u.expires_at,
            lease_until: u.lease_until,
            created_at: u.created_at,
            created_by: u.created_by,
            updated_at: u.updated_at,
            validation: u.validation,
            validation_lease: u.validation_lease,
            validation_attempts: u.validation_attempts,
        }
    }
}

/// Stores a new upload (its `seq` is assigned), with the answer to replay for an
/// idempotency key in the same transaction when there is one; otherwise one INSERT.
pub async fn insert(db: &Db, upload: Upload, answer: Option<Answer>) -> Result<Upload, DbErr> {
    let mut row = uploads::Model::from(upload).into_active_model();
    row.seq = NotSet;
    let stored = match answer {
        Some(answer) => {
            let write = Write::begin(db).await?;
            let stored = row.insert(write.txn()).await?;
            write.commit(Some(answer)).await?;
            stored
        }
        None => {
            let write = Autocommit::begin(db).await;
            row.insert(write.conn()).await?
        }
    };
    Ok(stored.into())
}

/// One upload by id, if it (still) exists.
pub async fn find(conn: &impl ConnectionTrait, id: &str) -> Result<Option<Upload>, DbErr> {
    Ok(uploads::Entity::find().filter(uploads::Column::Id.eq(id)).one(conn).await?.map(Upload::from))
}

/// The pending or received upload whose object is `key` in `bucket`, if any.
pub async fn by_object(conn: &impl ConnectionTrait, bucket: &str, key: &str) -> Result<Option<Upload>, DbErr> {
    Ok(uploads::Entity::find()
        .filter(uploads::Column::Bucket.eq(bucket))
        .filter(uploads::Column::ObjectKey.eq(key))
        .filter(uploads::Column::Status.is_in([UploadStatus::Pending, UploadStatus::Received]))
        .one(conn)
        .await?
        .map(Upload::from))
}

/// Which uploads of a product a page shows.
#[derive(Debug, Clone)]
pub struct UploadFilter<'a> {
    pub data_product: &'a str,
    /// Uploads created before this belong to an earlier product of the same name.
    pub since: DateTime<Utc>,
    pub status: Option<UploadStatus>,
    pub table: Option<&'a str>,
    /// Only uploads older than the one with this `seq`.
    pub before: Option<i64>,
}

/// A page of uploads, newest first, and the position to continue after.
pub async fn page(
    conn: &impl ConnectionTrait,
    filter: &UploadFilter<'_>,
    limit: u64,
) -> Result<(Vec<Upload>, Option<i64>), DbErr> {
    let mut select = uploads::Entity::find()
        .filter(uploads::Column::DataProduct.eq(filter.data_product))
        .filter(uploads::Column::CreatedAt.gte(filter.since));
    if let Some(s) = filter.status {
        select = select.filter(uploads::Column::Status.eq(s));
    }
    if let Some(t) = filter.table {
        select = select.filter(uploads::Column::TableName.eq(t));
    }
    if let Some(before) = filter.before {
        select = select.filter(uploads::Column::Seq.lt(before));
    }
    let mut rows = select.order_by_desc(uploads::Column::Seq).limit(limit + 1).all(conn).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(|r| r.seq) } else { None };
    Ok((rows.into_iter().map(Upload::from).collect(), next))
}

/// A move of an upload's status, with what it records.
#[derive(Debug, Clone)]
pub enum Change {
    /// pending -> received: the object is in storage.
    Received { size: i64, etag: Option<String>, at: DateTime<Utc> },
    /// received -> validated, or rejected with the reason: the file was checked.
    Checked { validation: serde_json::Value, rejection: Option<String> },
    /// pending -> expired: no object came before the URL ran out, or it was aborted.
    Expired,
}

impl Change {
    /// The status the move starts from and the one it ends in.
    pub fn statuses(&self) -> (UploadStatus, UploadStatus) {
        match self {
            Change::Received { .. } => (UploadStatus::Pending, UploadStatus::Received),
            Change::Checked { rejection: None, .. } => (UploadStatus::Received, UploadStatus::Validated),
            Change::Checked { rejection: Some(_), .. } => (UploadStatus::Received, UploadStatus::Rejected),
            Change::Expired => (UploadStatus::Pending, UploadStatus::Expired),
        }
    }
}

/// Applies `change` to the upload `id` and appends `event`, in one transaction; `false`
/// (and nothing written) when the upload is not in the status the change starts from.
pub async fn transition(db: &Db, id: &str, change: Change, event: Option<NewEvent>) -> Result<bool, DbErr> {
    let (from, to) = change.statuses();
    let mut write = Write::begin(db).await?;
    let mut update = uploads::Entity::update_many()
        .col_expr(uploads::Column::Status, Expr::value(to))
        .col_expr(uploads::Column::UpdatedAt, Expr::value(Utc::now()));
    match change {
        Change::Received { size, etag, at } => {
            // `received` rows belong to the validation workers, which take them at once.
            update = update
                .col_expr(uploads::Column::Size, Expr::value(Some(size)))
                .col_expr(uploads::Column::Etag, Expr::value(etag))
                .col_expr(uploads::Column::ReceivedAt, Expr::value(Some(at)))
                .col_expr(uploads::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None));
        }
        Change::Checked { validation, rejection } => {
            update = update.col_expr(uploads::Column::Validation, Expr::value(Some(validation)));
            if let Some(reason) = rejection {
                update = update.col_expr(uploads::Column::Rejection, Expr::value(Some(reason)));
            }
        }
        Change::Expired => {}
    }
    let done =
        update.filter(uploads::Column::Id.eq(id)).filter(uploads::Column::Status.eq(from)).exec(write.txn()).await?;
    if done.rows_affected != 1 {
        return Ok(false);
    }
    if let Some(event) = event {
        write.emit(event).await?;
    }
    write.commit(None).await?;
    Ok(true)
}

/// Leases up to `limit` due pending uploads until `until` (least recently looked at first).
pub async fn lease_pending(
    db: &Db,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Upload>, DbErr> {
    let backend = db.conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => format!(
            "UPDATE uploads SET lease_until = $1 WHERE seq IN (SELECT seq FROM uploads \
             WHERE status = 'pending' AND (lease_until IS NULL OR lease_until <= $2) \
             ORDER BY lease_until IS NOT NULL, lease_until, seq LIMIT {limit} FOR UPDATE SKIP LOCKED) RETURNING *"
        ),
        _ => format!(
            "UPDATE uploads SET lease_until = ? WHERE seq IN (SELECT seq FROM uploads \
             WHERE status = 'pending' AND (lease_until IS NULL OR lease_until <= ?) \
             ORDER BY lease_until IS NOT NULL, lease_until, seq LIMIT {limit}) RETURNING *"
        ),
    };
    let write = Autocommit::begin(db).await;
    let rows = uploads::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, [until.into(), now.into()]))
        .all(write.conn())
        .await?;
    Ok(rows.into_iter().map(Upload::from).collect())
}

/// Takes the oldest due received upload for the validation worker `token` until `until`,
/// counting the attempt.
pub async fn lease_received(
    db: &Db,
    token: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<Upload>, DbErr> {
    let backend = db.conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "UPDATE uploads SET lease_until = $1, validation_lease = $2, validation_attempts = validation_attempts + 1 \
             WHERE seq = (SELECT seq FROM uploads WHERE status = 'received' AND (lease_until IS NULL OR lease_until <= $3) \
             ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING *"
        }
        _ => {
            "UPDATE uploads SET lease_until = ?, validation_lease = ?, validation_attempts = validation_attempts + 1 \
             WHERE seq = (SELECT seq FROM uploads WHERE status = 'received' AND (lease_until IS NULL OR lease_until <= ?) \
             ORDER BY seq LIMIT 1) RETURNING *"
        }
    };
    let write = Autocommit::begin(db).await;
    let row = uploads::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, [until.into(), token.into(), now.into()]))
        .one(write.conn())
        .await?;
    Ok(row.map(Upload::from))
}

/// Extends a validation lease to `until`; `false` when it is no longer `token`'s.
pub async fn renew_validation(db: &Db, id: &str, token: &str, until: DateTime<Utc>) -> Result<bool, DbErr> {
    let write = Autocommit::begin(db).await;
    let done = uploads::Entity::update_many()
        .col_expr(uploads::Column::LeaseUntil, Expr::value(until))
        .filter(uploads::Column::Id.eq(id))
        .filter(uploads::Column::ValidationLease.eq(token))
        .filter(uploads::Column::Status.eq(UploadStatus::Received))
        .exec(write.conn())
        .await?;
    Ok(done.rows_affected == 1)
}

/// Gives a validation lease back, due again at `until`, without counting the attempt.
pub async fn release_validation(db: &Db, id: &str, token: &str, until: DateTime<Utc>) -> Result<(), DbErr> {
    let write = Autocommit::begin(db).await;
    uploads::Entity::update_many()
        .col_expr(uploads::Column::LeaseUntil, Expr::value(until))
        .col_expr(uploads::Column::ValidationLease, Expr::value(Option::<String>::None))
        .col_expr(uploads::Column::ValidationAttempts, Expr::col(uploads::Column::ValidationAttempts).sub(1))
        .filter(uploads::Column::Id.eq(id))
        .filter(uploads::Column::ValidationLease.eq(token))
        .exec(write.conn())
        .await?;
    Ok(())
}

/// Forgets every upload of the product `name`, in the caller's transaction (a purge): with
/// their rows gone, no one can list, complete or abort them, and an object that still
/// arrives at one of their keys matches nothing, so it makes no event under a product that
/// later takes the name. Objects already stored stay in the bucket, tracked by nothing.
pub async fn delete_for_product(conn: &impl ConnectionTrait, name: &str) -> Result<u64, DbErr> {
    let done = uploads::Entity::delete_many().filter(uploads::Column::DataProduct.eq(name)).exec(conn).await?;
    Ok(done.rows_affected)
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveEnum, Iterable};

    use super::*;

    #[test]
    fn statuses_and_formats_are_stored_as_their_names() {
        for status in UploadStatus::iter() {
            assert_eq!(status.to_value(), status.as_str());
            assert_eq!(UploadStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(UploadStatus::iter().count(), UploadStatus::ALL.len());
        for format in FileFormat::iter() {
            assert_eq!(format.to_value(), format.ext());
            assert_eq!(FileFormat::of_filename(&format!("a.{format}")), Some(format));
        }
    }

    #[test]
    fn a_change_moves_between_fixed_statuses() {
        let checked = |rejection: Option<&str>| Change::Checked {
            validation: serde_json::json!({}),
            rejection: rejection.map(str::to_owned),
        };
        assert_eq!(checked(None).statuses(), (UploadStatus::Received, UploadStatus::Validated));
        assert_eq!(checked(Some("bad")).statuses(), (UploadStatus::Received, UploadStatus::Rejected));
        assert_eq!(Change::Expired.statuses(), (UploadStatus::Pending, UploadStatus::Expired));
    }
}
