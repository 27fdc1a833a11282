//! Queries over data products (the head rows) and their tags.
//! Every function takes `&impl ConnectionTrait`, so callers choose the transaction.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{LikeExpr, Query},
};

use super::entities::{data_product_tags as tags, data_products as products};
use crate::domain::{model::ProductMetadata, version::Version};

pub use products::Model as ProductRow;

/// The list filters of `GET /v1/data-products`, already parsed.
#[derive(Debug, Default, Clone)]
pub struct ProductFilter {
    pub domain: Option<String>,
    pub status: Option<String>,
    /// Lower-cased owner e-mail.
    pub owner_lc: Option<String>,
    pub tag_key: Option<String>,
    pub tag_value: Option<String>,
    /// Lower-cased search text, matched literally as a substring.
    pub q_lc: Option<String>,
    pub include_deleted: bool,
    /// Only names strictly after this one (keyset pagination).
    pub after_name: Option<String>,
}

pub async fn find_product(
    conn: &impl ConnectionTrait,
    name: &str,
    include_deleted: bool,
) -> Result<Option<ProductRow>, DbErr> {
    let mut q = products::Entity::find().filter(products::Column::Name.eq(name));
    if !include_deleted {
        q = q.filter(products::Column::DeletedAt.is_null());
    }
    q.one(conn).await
}

/// The product row, locked until the transaction ends (PostgreSQL `FOR UPDATE`;
/// SQLite has a single writer already).
pub async fn lock_product(conn: &impl ConnectionTrait, name: &str) -> Result<Option<ProductRow>, DbErr> {
    let q = products::Entity::find().filter(products::Column::Name.eq(name));
    if conn.get_database_backend() == DbBackend::Postgres {
        q.lock_exclusive().one(conn).await
    } else {
        q.one(conn).await
    }
}

/// The columns of a product row that copy its latest metadata, for lists and filters.
fn set_metadata(row: &mut products::ActiveModel, metadata: &ProductMetadata) -> Result<(), DbErr> {
    row.domain = Set(metadata.domain.clone());
    row.status = Set(metadata.status.as_str().to_owned());
    row.owner_lc = Set(metadata.data_product_owner.to_lowercase());
    row.description_lc = Set(metadata.description.to_lowercase());
    row.metadata = Set(serde_json::to_value(metadata).map_err(|e| DbErr::Json(e.to_string()))?);
    Ok(())
}

/// Inserts the row of a new product at its first version (`ord` 1), without tables.
pub async fn insert_product(
    conn: &impl ConnectionTrait,
    name: &str,
    metadata: &ProductMetadata,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<ProductRow, DbErr> {
    let first = Version::FIRST;
    let mut row = products::ActiveModel {
        name: Set(name.to_owned()),
        table_names: Set(serde_json::json!([])),
        latest_version_id: Set(0),
        latest_ord: Set(1),
        version_major: Set(first.major as i32),
        version_minor: Set(first.minor as i32),
        created_at: Set(now),
        created_by: Set(actor.to_owned()),
        updated_at: Set(now),
        updated_by: Set(actor.to_owned()),
        deleted_at: Set(None),
        ..Default::default()
    };
    set_metadata(&mut row, metadata)?;
    row.insert(conn).await
}

/// Records which version row is the first one of a new product.
pub async fn set_first_version(
    conn: &impl ConnectionTrait,
    row: ProductRow,
    version_id: i64,
) -> Result<ProductRow, DbErr> {
    let mut active = row.into_active_model();
    active.latest_version_id = Set(version_id);
    active.update(conn).await
}

/// What a new latest version makes of a product's row.
pub struct NewHead<'a> {
    pub metadata: &'a ProductMetadata,
    pub tables: &'a [String],
    pub ord: i32,
    pub version: Version,
    pub actor: &'a str,
    pub now: DateTime<Utc>,
}

/// Moves the product's row to its new latest version.
pub async fn move_head(conn: &impl ConnectionTrait, row: ProductRow, head: NewHead<'_>) -> Result<ProductRow, DbErr> {
    let mut active = row.into_active_model();
    set_metadata(&mut active, head.metadata)?;
    active.table_names = Set(serde_json::json!(head.tables));
    active.latest_ord = Set(head.ord);
    active.version_major = Set(head.version.major as i32);
    active.version_minor = Set(head.version.minor as i32);
    active.updated_at = Set(head.now);
    active.updated_by = Set(head.actor.to_owned());
    active.update(conn).await
}

/// Soft-deletes (`Some`) or restores (`None`) a product.
pub async fn set_deleted(
    conn: &impl ConnectionTrait,
    row: ProductRow,
    at: Option<DateTime<Utc>>,
) -> Result<ProductRow, DbErr> {
    let mut active = row.into_active_model();
    active.deleted_at = Set(at);
    active.update(conn).await
}

/// Replaces the indexed tags of a product with those of its latest version.
pub async fn replace_tags(
    conn: &impl ConnectionTrait,
    product_id: i64,
    new_tags: impl IntoIterator<Item = (String, String)>,
) -> Result<(), DbErr> {
    tags::Entity::delete_many().filter(tags::Column::ProductId.eq(product_id)).exec(conn).await?;
    let models: Vec<_> = new_tags
        .into_iter()
        .map(|(key, value)| tags::ActiveModel { product_id: Set(product_id), key: Set(key), value: Set(value) })
        .collect();
    if !models.is_empty() {
        tags::Entity::insert_many(models).exec(conn).await?;
    }
    Ok(())
}

/// Escapes `%`, `_` and `\` so the text matches itself in a `LIKE ... ESCAPE '\'`.
fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// One page of products ordered by name; asks for `limit` rows.
pub async fn list_products(
    conn: &impl ConnectionTrait,
    filter: &ProductFilter,
    limit: u64,
) -> Result<Vec<ProductRow>, DbErr> {
    let mut cond = Condition::all();
    if !filter.include_deleted {
        cond = cond.add(products::Column::DeletedAt.is_null());
    }
    if let Some(d) = &filter.domain {
        cond = cond.add(products::Column::Domain.eq(d.as_str()));
    }
    if let Some(s) = &filter.status {
        cond = cond.add(products::Column::Status.eq(s.as_str()));
    }
    if let Some(o) = &filter.owner_lc {
        cond = cond.add(products::Column::OwnerLc.eq(o.as_str()));
    }
    if let Some(key) = &filter.tag_key {
        let mut sub = Query::select();
        sub.column(tags::Column::ProductId).from(tags::Entity).and_where(tags::Column::Key.eq(key.as_str()));
        if let Some(value) = &filter.tag_value {
            sub.and_where(tags::Column::Value.eq(value.as_str()));
        }
        cond = cond.add(products::Column::Id.in_subquery(sub.to_owned()));
    }
    if let Some(q) = &filter.q_lc {
        let pattern = like_literal(q);
        cond = cond.add(
            Condition::any()
                .add(products::Column::Name.like(LikeExpr::new(pattern.clone()).escape('\\')))
                .add(products::Column::DescriptionLc.like(LikeExpr::new(pattern).escape('\\'))),
        );
    }
    if let Some(after) = &filter.after_name {
        cond = cond.add(products::Column::Name.gt(after.as_str()));
    }
    products::Entity::find().filter(cond).order_by_asc(products::Column::Name).limit(limit).all(conn).await
}

/// Removes a product and, by cascade, every version, table, blob and tag of it.
pub async fn purge_product(conn: &impl ConnectionTrait, product_id: i64) -> Result<(), DbErr> {
    products::Entity::delete_by_id(product_id).exec(conn).await?;
    Ok(())
}
