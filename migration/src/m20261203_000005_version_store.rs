//! The version store: a version no longer copies every table of its product.
//! Each distinct table content is stored once per product (`schema_blobs`, keyed by the
//! hash of its canonical form), and `version_tables` says which blob a table name points at
//! over a range of versions `[from_ord, to_ord)` (`ord` numbers a product's versions 1, 2, …
//! in order; `to_ord` is NULL while the table is live). A write closes and opens only the
//! intervals of the tables it changed, so its cost does not grow with the product's size.
//! Events gain `txid`, the writing transaction's id on PostgreSQL, which orders the feed
//! without a global lock (see `events` in the service); rows written before keep 0.
use std::collections::BTreeMap;

use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait},
};

use crate::schema_blob_hash;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DataProducts {
    Table,
    Id,
    LatestOrd,
}

#[derive(DeriveIden)]
enum DataProductVersions {
    Table,
    Id,
    ProductId,
    Ord,
    TableNames,
}

#[derive(DeriveIden)]
enum SchemaBlobs {
    Table,
    Id,
    ProductId,
    Hash,
    Description,
    Columns,
}

#[derive(DeriveIden)]
enum VersionTables {
    Table,
    Id,
    ProductId,
    Name,
    BlobId,
    FromOrd,
    ToOrd,
}

#[derive(DeriveIden)]
enum TableSchemas {
    Table,
    Id,
    VersionId,
    Name,
    Description,
    Columns,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Txid,
    Seq,
    DataProduct,
    EventType,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SchemaBlobs::Table)
                    .col(big_pk_auto(SchemaBlobs::Id))
                    .col(big_integer(SchemaBlobs::ProductId))
                    .col(string_len(SchemaBlobs::Hash, 64))
                    .col(text(SchemaBlobs::Description))
                    .col(json_binary(SchemaBlobs::Columns))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SchemaBlobs::Table, SchemaBlobs::ProductId)
                            .to(DataProducts::Table, DataProducts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("schema_blobs_product_hash_key")
                    .table(SchemaBlobs::Table)
                    .col(SchemaBlobs::ProductId)
                    .col(SchemaBlobs::Hash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(VersionTables::Table)
                    .col(big_pk_auto(VersionTables::Id))
                    .col(big_integer(VersionTables::ProductId))
                    .col(string_len(VersionTables::Name, 128))
                    .col(big_integer(VersionTables::BlobId))
                    .col(integer(VersionTables::FromOrd))
                    .col(integer_null(VersionTables::ToOrd))
                    .foreign_key(
                        ForeignKey::create()
                            .from(VersionTables::Table, VersionTables::ProductId)
                            .to(DataProducts::Table, DataProducts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(VersionTables::Table, VersionTables::BlobId)
                            .to(SchemaBlobs::Table, SchemaBlobs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("version_tables_product_name_from_key")
                    .table(VersionTables::Table)
                    .col(VersionTables::ProductId)
                    .col(VersionTables::Name)
                    .col(VersionTables::FromOrd)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("version_tables_product_from_idx")
                    .table(VersionTables::Table)
                    .col(VersionTables::ProductId)
                    .col(VersionTables::FromOrd)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("version_tables_blob_idx")
                    .table(VersionTables::Table)
                    .col(VersionTables::BlobId)
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(DataProductVersions::Table)
                    .add_column(integer(DataProductVersions::Ord).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(DataProducts::Table)
                    .add_column(integer(DataProducts::LatestOrd).default(0))
                    .to_owned(),
            )
            .await?;

        let db = manager.get_connection();
        let backend = db.get_database_backend();
        manager
            .alter_table(
                Table::alter().table(Events::Table).add_column(big_integer(Events::Txid).default(0)).to_owned(),
            )
            .await?;
        if backend == DbBackend::Postgres {
            // Every new event records the id of the transaction that writes it.
            db.execute_unprepared(
                "ALTER TABLE events ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text::bigint)",
            )
            .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("events_txid_seq_idx")
                    .table(Events::Table)
                    .col(Events::Txid)
                    .col(Events::Seq)
                    .to_owned(),
            )
            .await?;
        for (name, col) in
            [("events_data_product_txid_idx", Events::DataProduct), ("events_type_txid_idx", Events::EventType)]
        {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Events::Table)
                        .col(col)
                        .col(Events::Txid)
                        .col(Events::Seq)
                        .to_owned(),
                )
                .await?;
        }

        convert(db, backend).await?;

        manager
            .create_index(
                Index::create()
                    .name("data_product_versions_ord_key")
                    .table(DataProductVersions::Table)
                    .col(DataProductVersions::ProductId)
                    .col(DataProductVersions::Ord)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager.drop_table(Table::drop().table(TableSchemas::Table).to_owned()).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(DataProductVersions::Table)
                    .drop_column(DataProductVersions::TableNames)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        // Back to one copy of every table per version.
        manager
            .create_table(
                Table::create()
                    .table(TableSchemas::Table)
                    .col(big_pk_auto(TableSchemas::Id))
                    .col(big_integer(TableSchemas::VersionId))
                    .col(string_len(TableSchemas::Name, 128))
                    .col(text(TableSchemas::Description))
                    .col(json_binary(TableSchemas::Columns))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TableSchemas::Table, TableSchemas::VersionId)
                            .to(DataProductVersions::Table, DataProductVersions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("table_schemas_version_name_key")
                    .table(TableSchemas::Table)
                    .col(TableSchemas::VersionId)
                    .col(TableSchemas::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared(
            "INSERT INTO table_schemas (version_id, name, description, columns) \
             SELECT v.id, t.name, b.description, b.columns FROM data_product_versions v \
             JOIN version_tables t ON t.product_id = v.product_id AND t.from_ord <= v.ord \
               AND (t.to_ord IS NULL OR t.to_ord > v.ord) \
             JOIN schema_blobs b ON b.id = t.blob_id",
        )
        .await?;
        let names = match backend {
            DbBackend::Postgres => {
                "COALESCE((SELECT jsonb_agg(s.name ORDER BY s.name) FROM table_schemas s WHERE s.version_id = data_product_versions.id), '[]'::jsonb)"
            }
            _ => {
                "COALESCE((SELECT json_group_array(name) FROM (SELECT s.name FROM table_schemas s WHERE s.version_id = data_product_versions.id ORDER BY s.name)), '[]')"
            }
        };
        manager
            .alter_table(
                Table::alter()
                    .table(DataProductVersions::Table)
                    .add_column(json_binary(DataProductVersions::TableNames).default("[]"))
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared(&format!("UPDATE data_product_versions SET table_names = {names}")).await?;
        manager
            .drop_index(
                Index::drop().name("data_product_versions_ord_key").table(DataProductVersions::Table).to_owned(),
            )
            .await?;
        for index in ["events_txid_seq_idx", "events_data_product_txid_idx", "events_type_txid_idx"] {
            manager.drop_index(Index::drop().name(index).table(Events::Table).to_owned()).await?;
        }
        manager.alter_table(Table::alter().table(Events::Table).drop_column(Events::Txid).to_owned()).await?;
        manager
            .alter_table(
                Table::alter().table(DataProductVersions::Table).drop_column(DataProductVersions::Ord).to_owned(),
            )
            .await?;
        manager
            .alter_table(Table::alter().table(DataProducts::Table).drop_column(DataProducts::LatestOrd).to_owned())
            .await?;
        manager.drop_table(Table::drop().table(VersionTables::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(SchemaBlobs::Table).to_owned()).await
    }
}

/// A table as one version of the old layout stored it.
struct OldTable {
    name: String,
    description: String,
    columns: serde_json::Value,
}

/// Rewrites every product's per-version table copies as shared blobs and intervals,
/// one product per transaction.
async fn convert(db: &SchemaManagerConnection<'_>, backend: DbBackend) -> Result<(), DbErr> {
    let products =
        db.query_all_raw(Statement::from_string(backend, "SELECT id FROM data_products ORDER BY id")).await?;
    for row in products {
        let product_id: i64 = row.try_get("", "id")?;
        let txn = db.begin().await?;
        convert_product(&txn, backend, product_id).await?;
        txn.commit().await?;
    }
    Ok(())
}

async fn convert_product(txn: &impl ConnectionTrait, backend: DbBackend, product_id: i64) -> Result<(), DbErr> {
    let p = |n: usize| if backend == DbBackend::Postgres { format!("${n}") } else { "?".to_owned() };
    let versions = txn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!("SELECT id FROM data_product_versions WHERE product_id = {} ORDER BY major, minor", p(1)),
            [product_id.into()],
        ))
        .await?;
    // name -> (blob id, hash, from_ord) of the interval still open.
    let mut open: BTreeMap<String, (i64, String, i32)> = BTreeMap::new();
    let mut blobs: BTreeMap<String, i64> = BTreeMap::new();
    let mut ord = 0;
    for version in versions {
        ord += 1;
        let version_id: i64 = version.try_get("", "id")?;
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            format!("UPDATE data_product_versions SET ord = {} WHERE id = {}", p(1), p(2)),
            [ord.into(), version_id.into()],
        ))
        .await?;
        let rows = txn
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                format!("SELECT name, description, columns FROM table_schemas WHERE version_id = {}", p(1)),
                [version_id.into()],
            ))
            .await?;
        let mut tables = Vec::with_capacity(rows.len());
        for r in rows {
            let columns: serde_json::Value = r.try_get("", "columns")?;
            tables.push(OldTable { name: r.try_get("", "name")?, description: r.try_get("", "description")?, columns });
        }
        let mut seen = BTreeMap::new();
        for table in tables {
            let hash = schema_blob_hash(&table.description, &table.columns);
            seen.insert(table.name.clone(), ());
            if open.get(&table.name).is_some_and(|(_, h, _)| *h == hash) {
                continue;
            }
            if open.contains_key(&table.name) {
                close(txn, backend, product_id, &table.name, ord).await?;
            }
            let blob_id = match blobs.get(&hash) {
                Some(id) => *id,
                None => {
                    let id = insert_blob(txn, backend, product_id, &hash, &table.description, &table.columns).await?;
                    blobs.insert(hash.clone(), id);
                    id
                }
            };
            txn.execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "INSERT INTO version_tables (product_id, name, blob_id, from_ord) VALUES ({}, {}, {}, {})",
                    p(1),
                    p(2),
                    p(3),
                    p(4)
                ),
                [product_id.into(), table.name.clone().into(), blob_id.into(), ord.into()],
            ))
            .await?;
            open.insert(table.name, (blob_id, hash, ord));
        }
        let gone: Vec<String> = open.keys().filter(|name| !seen.contains_key(*name)).cloned().collect();
        for name in gone {
            close(txn, backend, product_id, &name, ord).await?;
            open.remove(&name);
        }
    }
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        format!("UPDATE data_products SET latest_ord = {} WHERE id = {}", p(1), p(2)),
        [ord.into(), product_id.into()],
    ))
    .await?;
    Ok(())
}

async fn close(
    txn: &impl ConnectionTrait,
    backend: DbBackend,
    product_id: i64,
    name: &str,
    ord: i32,
) -> Result<(), DbErr> {
    let p = |n: usize| if backend == DbBackend::Postgres { format!("${n}") } else { "?".to_owned() };
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "UPDATE version_tables SET to_ord = {} WHERE product_id = {} AND name = {} AND to_ord IS NULL",
            p(1),
            p(2),
            p(3)
        ),
        [ord.into(), product_id.into(), name.to_owned().into()],
    ))
    .await?;
    Ok(())
}

async fn insert_blob(
    txn: &impl ConnectionTrait,
    backend: DbBackend,
    product_id: i64,
    hash: &str,
    description: &str,
    columns: &serde_json::Value,
) -> Result<i64, DbErr> {
    let insert = Query::insert()
        .into_table(SchemaBlobs::Table)
        .columns([SchemaBlobs::ProductId, SchemaBlobs::Hash, SchemaBlobs::Description, SchemaBlobs::Columns])
        .values_panic([product_id.into(), hash.into(), description.into(), columns.clone().into()])
        .returning_col(SchemaBlobs::Id)
        .to_owned();
    let row = txn
        .query_one_raw(backend.build(&insert))
        .await?
        .ok_or_else(|| DbErr::Migration("inserting a schema blob returned no id".to_owned()))?;
    row.try_get("", "id")
}
