//! Platform statistics for `GET /v1/stats`. Every figure is one SQL aggregate over an
//! index or a table scan in the database; no rows are loaded into the service. Soft-deleted
//! products and their versions and tables are not counted (every read hides them).
use std::collections::BTreeMap;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
    sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement},
};

use super::entities::{data_product_versions as versions, data_products as products, events};
use super::uploads::UploadStatus;

/// Lifecycle statuses, each reported even when no product has it.
const PRODUCT_STATUSES: [&str; 4] = ["draft", "published", "deprecated", "retired"];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stats {
    pub products: i64,
    pub products_by_domain: BTreeMap<String, i64>,
    pub products_by_status: BTreeMap<String, i64>,
    pub versions: i64,
    pub tables: i64,
    pub uploads_by_status: BTreeMap<String, i64>,
    pub events: i64,
}

/// The figures, read in one transaction.
pub async fn read(db: &DatabaseConnection) -> Result<Stats, DbErr> {
    let txn = db.begin().await?;
    // One scan of the live products gives the counts by domain and status, and their tables
    // (each product row carries its latest version's table names).
    let table_count = match txn.get_database_backend() {
        DbBackend::Postgres => "SUM(jsonb_array_length(table_names))",
        _ => "SUM(json_array_length(table_names))",
    };
    let groups: Vec<(String, String, i64, i64)> = products::Entity::find()
        .select_only()
        .column(products::Column::Domain)
        .column(products::Column::Status)
        .column_as(Expr::col(products::Column::Id).count(), "n")
        .column_as(Expr::cust(table_count), "tables")
        .filter(Expr::col(products::Column::DeletedAt).is_null())
        .group_by(products::Column::Domain)
        .group_by(products::Column::Status)
        .into_tuple()
        .all(&txn)
        .await?;
    let mut products_by_domain: BTreeMap<String, i64> = BTreeMap::new();
    let mut products_by_status: BTreeMap<String, i64> = PRODUCT_STATUSES.iter().map(|s| ((*s).to_owned(), 0)).collect();
    let mut tables = 0;
    for (domain, status, n, in_tables) in groups {
        *products_by_domain.entry(domain).or_default() += n;
        *products_by_status.entry(status).or_default() += n;
        tables += in_tables;
    }

    // Every version, less those of deleted products (few, found through the product index).
    let mut all_versions = Query::select();
    all_versions.expr(Expr::col(versions::Column::Id).count()).from(versions::Entity);
    let mut deleted_versions = Query::select();
    deleted_versions
        .expr(Expr::col((versions::Entity, versions::Column::Id)).count())
        .from(versions::Entity)
        .inner_join(
            products::Entity,
            Expr::col((versions::Entity, versions::Column::ProductId)).equals((products::Entity, products::Column::Id)),
        )
        .and_where(Expr::col((products::Entity, products::Column::DeletedAt)).is_not_null());
    let mut event_count = Query::select();
    event_count.expr(Expr::col(events::Column::Seq).count()).from(events::Entity);

    let mut upload_counts = Query::select();
    upload_counts
        .column(Alias::new("status"))
        .expr(Expr::col(Alias::new("id")).count())
        .from(Alias::new("uploads"))
        .group_by_col(Alias::new("status"));
    // Every status is reported, also when no upload has it.
    let mut uploads_by_status: BTreeMap<String, i64> =
        UploadStatus::ALL.iter().map(|s| (s.as_str().to_owned(), 0)).collect();
    for row in txn.query_all(&upload_counts).await? {
        uploads_by_status.insert(row.try_get_by_index(0)?, row.try_get_by_index(1)?);
    }
    let stats = Stats {
        products: products_by_domain.values().sum(),
        products_by_domain,
        products_by_status,
        versions: count(&txn, &all_versions).await? - count(&txn, &deleted_versions).await?,
        tables,
        uploads_by_status,
        events: count(&txn, &event_count).await?,
    };
    txn.commit().await?;
    Ok(stats)
}

async fn count(conn: &impl ConnectionTrait, query: &SelectStatement) -> Result<i64, DbErr> {
    let row = conn.query_one(query).await?;
    row.map_or(Ok(0), |r| r.try_get_by_index(0))
}
