//! Platform statistics for `GET /v1/stats`. Every figure is one SQL aggregate over an
//! index or a table scan in the database; no rows are loaded into the service. Soft-deleted
//! products and their versions and tables are not counted (every read hides them).
use std::collections::BTreeMap;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
    sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement},
};

use super::entities::{data_product_versions as versions, data_products as products, events, table_schemas as tables};

/// Lifecycle statuses, each reported even when no product has it.
const PRODUCT_STATUSES: [&str; 4] = ["draft", "published", "deprecated", "retired"];
/// Upload statuses, each reported even when no upload has it.
const UPLOAD_STATUSES: [&str; 5] = ["pending", "received", "validated", "rejected", "expired"];

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
    let by = |column: products::Column| {
        products::Entity::find()
            .select_only()
            .column(column)
            .column_as(Expr::col(products::Column::Id).count(), "n")
            .filter(Expr::col(products::Column::DeletedAt).is_null())
            .group_by(column)
            .into_tuple::<(String, i64)>()
    };
    let products_by_domain: BTreeMap<String, i64> = by(products::Column::Domain).all(&txn).await?.into_iter().collect();
    let mut products_by_status: BTreeMap<String, i64> = PRODUCT_STATUSES.iter().map(|s| ((*s).to_owned(), 0)).collect();
    products_by_status.extend(by(products::Column::Status).all(&txn).await?);

    let live = |query: &mut SelectStatement, join_on: Expr| {
        query
            .inner_join(products::Entity, join_on)
            .and_where(Expr::col((products::Entity, products::Column::DeletedAt)).is_null());
    };
    let mut version_count = Query::select();
    version_count.expr(Expr::col((versions::Entity, versions::Column::Id)).count()).from(versions::Entity);
    live(
        &mut version_count,
        Expr::col((versions::Entity, versions::Column::ProductId)).equals((products::Entity, products::Column::Id)),
    );
    let mut table_count = Query::select();
    table_count.expr(Expr::col((tables::Entity, tables::Column::Id)).count()).from(tables::Entity);
    live(
        &mut table_count,
        Expr::col((tables::Entity, tables::Column::VersionId))
            .equals((products::Entity, products::Column::LatestVersionId)),
    );
    let mut event_count = Query::select();
    event_count.expr(Expr::col(events::Column::Seq).count()).from(events::Entity);

    let mut upload_counts = Query::select();
    upload_counts
        .column(Alias::new("status"))
        .expr(Expr::col(Alias::new("id")).count())
        .from(Alias::new("uploads"))
        .group_by_col(Alias::new("status"));
    let mut uploads_by_status: BTreeMap<String, i64> = UPLOAD_STATUSES.iter().map(|s| ((*s).to_owned(), 0)).collect();
    for row in txn.query_all(&upload_counts).await? {
        uploads_by_status.insert(row.try_get_by_index(0)?, row.try_get_by_index(1)?);
    }
    let stats = Stats {
        products: products_by_domain.values().sum(),
        products_by_domain,
        products_by_status,
        versions: count(&txn, &version_count).await?,
        tables: count(&txn, &table_count).await?,
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
