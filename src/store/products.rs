//! Queries over data products, versions, tags and table schemas.
//! Every function takes `&impl ConnectionTrait`, so callers choose the transaction.
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{LikeExpr, Query},
};

use super::entities::{
    data_product_tags as tags, data_product_versions as versions, data_products as products, table_schemas as tables,
};

pub use products::Model as ProductRow;
pub use tables::Model as TableRow;
pub use versions::Model as VersionRow;

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

pub async fn insert_product(conn: &impl ConnectionTrait, row: products::ActiveModel) -> Result<ProductRow, DbErr> {
    row.insert(conn).await
}

pub async fn update_product(conn: &impl ConnectionTrait, row: products::ActiveModel) -> Result<ProductRow, DbErr> {
    row.update(conn).await
}

pub async fn insert_version(conn: &impl ConnectionTrait, row: versions::ActiveModel) -> Result<VersionRow, DbErr> {
    row.insert(conn).await
}

/// Stores the tables of a new version.
pub async fn insert_tables(
    conn: &impl ConnectionTrait,
    version_id: i64,
    rows: Vec<(String, String, serde_json::Value)>,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let models = rows.into_iter().map(|(name, description, columns)| tables::ActiveModel {
        version_id: Set(version_id),
        name: Set(name),
        description: Set(description),
        columns: Set(columns),
        ..Default::default()
    });
    tables::Entity::insert_many(models).exec(conn).await?;
    Ok(())
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

pub async fn version_by_id(conn: &impl ConnectionTrait, id: i64) -> Result<Option<VersionRow>, DbErr> {
    versions::Entity::find_by_id(id).one(conn).await
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

/// The tables of one version, ordered by name.
pub async fn version_tables(conn: &impl ConnectionTrait, version_id: i64) -> Result<Vec<TableRow>, DbErr> {
    tables::Entity::find()
        .filter(tables::Column::VersionId.eq(version_id))
        .order_by_asc(tables::Column::Name)
        .all(conn)
        .await
}

pub async fn version_table(
    conn: &impl ConnectionTrait,
    version_id: i64,
    name: &str,
) -> Result<Option<TableRow>, DbErr> {
    tables::Entity::find()
        .filter(tables::Column::VersionId.eq(version_id))
        .filter(tables::Column::Name.eq(name))
        .one(conn)
        .await
}

/// Removes a product and, by cascade, every version, table and tag of it.
pub async fn purge_product(conn: &impl ConnectionTrait, product_id: i64) -> Result<(), DbErr> {
    products::Entity::delete_by_id(product_id).exec(conn).await?;
    Ok(())
}
