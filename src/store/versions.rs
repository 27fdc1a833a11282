//! Versions and the tables they hold, stored by structural sharing: a table's content is
//! a blob stored once per product (content-addressed), and an interval row says which blob
//! a table name points at for the versions `from_ord <= ord < to_ord`. A write touches only
//! the intervals of the tables it changed, so its cost and its bytes do not grow with the
//! number of tables the product has; reading version `ord` is one indexed range query.
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait,
    FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Statement,
};

use super::entities::{data_product_versions as versions, schema_blobs as blobs, version_tables as intervals};
use crate::domain::{
    diff::{Change, ChangeClass},
    model::ProductMetadata,
    version::Version,
};

pub use versions::Model as VersionRow;

/// A table as one version holds it: its name and stored content.
#[derive(Debug, Clone, FromQueryResult)]
pub struct TableRow {
    pub name: String,
    pub description: String,
    pub columns: serde_json::Value,
}

/// A version to record.
pub struct NewVersion<'a> {
    pub product_id: i64,
    pub version: Version,
    pub ord: i32,
    pub class: ChangeClass,
    pub changes: &'a [Change],
    pub metadata: &'a ProductMetadata,
    pub actor: &'a str,
    pub now: chrono::DateTime<chrono::Utc>,
}

pub async fn insert_version(conn: &impl ConnectionTrait, v: NewVersion<'_>) -> Result<VersionRow, DbErr> {
    let json = |value: Result<serde_json::Value, serde_json::Error>| value.map_err(|e| DbErr::Json(e.to_string()));
    versions::ActiveModel {
        product_id: Set(v.product_id),
        major: Set(v.version.major as i32),
        minor: Set(v.version.minor as i32),
        ord: Set(v.ord),
        change_type: Set(v.class.as_str().to_owned()),
        changes: Set(json(serde_json::to_value(v.changes))?),
        metadata: Set(json(serde_json::to_value(v.metadata))?),
        created_at: Set(v.now),
        created_by: Set(v.actor.to_owned()),
        ..Default::default()
    }
    .insert(conn)
    .await
}

/// The version `major.minor` of a product, or the newest of `major` when `minor` is `None`.
pub async fn find_version(
    conn: &impl ConnectionTrait,
    product_id: i64,
    major: i32,
    minor: Option<i32>,
) -> Result<Option<VersionRow>, DbErr> {
    let mut q = versions::Entity::find()
        .filter(versions::Column::ProductId.eq(product_id))
        .filter(versions::Column::Major.eq(major));
    if let Some(minor) = minor {
        q = q.filter(versions::Column::Minor.eq(minor));
    }
    q.order_by_desc(versions::Column::Minor).one(conn).await
}

/// Versions newest first, strictly older than `before` when given.
pub async fn list_versions(
    conn: &impl ConnectionTrait,
    product_id: i64,
    before: Option<(i32, i32)>,
    limit: u64,
) -> Result<Vec<VersionRow>, DbErr> {
    let mut cond = Condition::all().add(versions::Column::ProductId.eq(product_id));
    if let Some((major, minor)) = before {
        cond = cond.add(
            Condition::any()
                .add(versions::Column::Major.lt(major))
                .add(Condition::all().add(versions::Column::Major.eq(major)).add(versions::Column::Minor.lt(minor))),
        );
    }
    versions::Entity::find()
        .filter(cond)
        .order_by_desc(versions::Column::Major)
        .order_by_desc(versions::Column::Minor)
        .limit(limit)
        .all(conn)
        .await
}

/// Intervals that hold version `ord`.
fn at_ord(product_id: i64, ord: i32) -> Condition {
    Condition::all()
        .add(intervals::Column::ProductId.eq(product_id))
        .add(intervals::Column::FromOrd.lte(ord))
        .add(Condition::any().add(intervals::Column::ToOrd.is_null()).add(intervals::Column::ToOrd.gt(ord)))
}

fn with_blob(cond: Condition) -> sea_orm::Select<intervals::Entity> {
    intervals::Entity::find()
        .select_only()
        .column(intervals::Column::Name)
        .column_as(blobs::Column::Description, "description")
        .column_as(blobs::Column::Columns, "columns")
        .join(
            sea_orm::JoinType::InnerJoin,
            intervals::Entity::belongs_to(blobs::Entity).from(intervals::Column::BlobId).to(blobs::Column::Id).into(),
        )
        .filter(cond)
}

/// Every table of version `ord`, ordered by name.
pub async fn tables_at(conn: &impl ConnectionTrait, product_id: i64, ord: i32) -> Result<Vec<TableRow>, DbErr> {
    with_blob(at_ord(product_id, ord)).order_by_asc(intervals::Column::Name).into_model::<TableRow>().all(conn).await
}

/// One table of the latest version (the interval still open), if the product has it.
pub async fn live_table(conn: &impl ConnectionTrait, product_id: i64, name: &str) -> Result<Option<TableRow>, DbErr> {
    with_blob(
        Condition::all()
            .add(intervals::Column::ProductId.eq(product_id))
            .add(intervals::Column::Name.eq(name))
            .add(intervals::Column::ToOrd.is_null()),
    )
    .into_model::<TableRow>()
    .one(conn)
    .await
}

/// The blob holding this content for the product, stored now if it is new (one statement
/// when it is new, two when it exists).
pub async fn put_blob(
    conn: &impl ConnectionTrait,
    product_id: i64,
    description: &str,
    columns: serde_json::Value,
) -> Result<i64, DbErr> {
    let hash = migration::schema_blob_hash(description, &columns);
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO schema_blobs (product_id, hash, description, columns) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (product_id, hash) DO NOTHING RETURNING id"
        }
        _ => {
            "INSERT INTO schema_blobs (product_id, hash, description, columns) VALUES (?, ?, ?, ?) \
             ON CONFLICT (product_id, hash) DO NOTHING RETURNING id"
        }
    };
    let values: Vec<sea_orm::Value> =
        vec![product_id.into(), hash.clone().into(), description.to_owned().into(), columns.into()];
    if let Some(row) = conn.query_one_raw(Statement::from_sql_and_values(backend, sql, values)).await? {
        return row.try_get("", "id");
    }
    blobs::Entity::find()
        .select_only()
        .column(blobs::Column::Id)
        .filter(blobs::Column::ProductId.eq(product_id))
        .filter(blobs::Column::Hash.eq(hash.as_str()))
        .into_tuple::<i64>()
        .one(conn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("schema blob {hash}")))
}

/// Points `name` at `blob_id` from version `ord` on, ending the interval it had (if any):
/// one statement on PostgreSQL.
pub async fn replace_table(
    conn: &impl ConnectionTrait,
    product_id: i64,
    name: &str,
    blob_id: i64,
    ord: i32,
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    if backend != DbBackend::Postgres {
        close_table(conn, product_id, name, ord).await?;
        return open_table(conn, product_id, name, blob_id, ord).await;
    }
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        // The insert reads the update's count, so the open interval is closed before the
        // new one is added (at most one is open per name: `version_tables_live_key`).
        "WITH closed AS (UPDATE version_tables SET to_ord = $4 \
           WHERE product_id = $1 AND name = $2 AND to_ord IS NULL RETURNING id) \
         INSERT INTO version_tables (product_id, name, blob_id, from_ord) \
         SELECT $1, $2, $3, $4 FROM (SELECT count(*) FROM closed) AS c",
        [product_id.into(), name.to_owned().into(), blob_id.into(), ord.into()],
    ))
    .await?;
    Ok(())
}

/// Ends the open interval of `name`: the table is not in version `ord` and later.
pub async fn close_table(conn: &impl ConnectionTrait, product_id: i64, name: &str, ord: i32) -> Result<(), DbErr> {
    intervals::Entity::update_many()
        .col_expr(intervals::Column::ToOrd, ord.into())
        .filter(intervals::Column::ProductId.eq(product_id))
        .filter(intervals::Column::Name.eq(name))
        .filter(intervals::Column::ToOrd.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// Points `name` at `blob_id` from version `ord` on.
pub async fn open_table(
    conn: &impl ConnectionTrait,
    product_id: i64,
    name: &str,
    blob_id: i64,
    ord: i32,
) -> Result<(), DbErr> {
    intervals::Entity::insert(intervals::ActiveModel {
        product_id: Set(product_id),
        name: Set(name.to_owned()),
        blob_id: Set(blob_id),
        from_ord: Set(ord),
        to_ord: Set(None),
        ..Default::default()
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// A version-creating change of one table, for `change_table`.
pub struct TableChange<'a> {
    pub product_id: i64,
    /// The domain the caller's permission was checked against.
    pub domain: &'a str,
    pub table: &'a str,
    /// The content address of the table the change was computed from (`None`: a new table).
    pub old_hash: Option<String>,
    /// `major` or `minor`.
    pub class: &'a str,
    pub description: &'a str,
    pub columns: serde_json::Value,
    pub changes: serde_json::Value,
    pub actor: &'a str,
    pub now: chrono::DateTime<chrono::Utc>,
    pub event_type: &'a str,
    pub event_data: serde_json::Value,
    pub max_tables: usize,
}

/// The content address a table is stored under.
pub fn content_hash(description: &str, columns: &serde_json::Value) -> String {
    migration::schema_blob_hash(description, columns)
}

/// A product and one of its tables as the latest version has them, read without a lock
/// for `change_table` (which checks them again under the lock).
#[derive(Debug, FromQueryResult)]
pub struct LiveTable {
    pub product_id: i64,
    pub domain: String,
    pub deleted: bool,
    /// The table's content address, description and columns (`None`: no such table).
    pub hash: Option<String>,
    pub description: Option<String>,
    pub columns: Option<serde_json::Value>,
}

/// The product `product` and its table `table` in the latest version, in one query
/// (PostgreSQL, for `change_table`); `None` when there is no such product.
pub async fn live_for_change(
    conn: &impl ConnectionTrait,
    product: &str,
    table: &str,
) -> Result<Option<LiveTable>, DbErr> {
    LiveTable::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT p.id AS product_id, p.domain, p.deleted_at IS NOT NULL AS deleted, b.hash, b.description, b.columns \
           FROM data_products p \
           LEFT JOIN version_tables t ON t.product_id = p.id AND t.name = $2 AND t.to_ord IS NULL \
           LEFT JOIN schema_blobs b ON b.id = t.blob_id \
          WHERE p.name = $1",
        [product.to_owned().into(), table.to_owned().into()],
    ))
    .one(conn)
    .await
}

/// Whether `change_table` can make a version in one statement here (PostgreSQL).
pub fn changes_tables_in_one_statement(backend: DbBackend) -> bool {
    backend == DbBackend::Postgres
}

/// Makes the version of a table change and appends its event in one statement (the
/// function of migration 000007), committing on its own. `None` when the product, its
/// domain or the table is no longer what the change was computed from, or it is full:
/// nothing was written.
pub async fn change_table(
    conn: &impl ConnectionTrait,
    c: TableChange<'_>,
) -> Result<Option<super::products::ProductRow>, DbErr> {
    use sea_orm::FromQueryResult as _;
    let hash = migration::schema_blob_hash(c.description, &c.columns);
    let values: Vec<sea_orm::Value> = vec![
        c.product_id.into(),
        c.domain.to_owned().into(),
        c.table.to_owned().into(),
        c.old_hash.into(),
        c.class.to_owned().into(),
        hash.into(),
        c.description.to_owned().into(),
        c.columns.into(),
        c.changes.into(),
        c.actor.to_owned().into(),
        c.now.into(),
        uuid::Uuid::new_v4().to_string().into(),
        c.event_type.to_owned().into(),
        c.event_data.into(),
        i32::try_from(c.max_tables).unwrap_or(i32::MAX).into(),
    ];
    super::products::ProductRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT * FROM daap_change_table($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        values,
    ))
    .one(conn)
    .await
}
