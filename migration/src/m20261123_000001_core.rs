//! Data products, their immutable versions and per-version table schemas.
//! `(product_id, major, minor)` is unique, so two versions can never share a number.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DataProducts {
    Table,
    Id,
    Name,
    Domain,
    Status,
    OwnerLc,
    DescriptionLc,
    Metadata,
    TableNames,
    LatestVersionId,
    VersionMajor,
    VersionMinor,
    CreatedAt,
    CreatedBy,
    UpdatedAt,
    UpdatedBy,
    DeletedAt,
}

#[derive(DeriveIden)]
enum DataProductTags {
    Table,
    ProductId,
    Key,
    Value,
}

#[derive(DeriveIden)]
enum DataProductVersions {
    Table,
    Id,
    ProductId,
    Major,
    Minor,
    ChangeType,
    Changes,
    Metadata,
    TableNames,
    CreatedAt,
    CreatedBy,
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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DataProducts::Table)
                    .col(big_pk_auto(DataProducts::Id))
                    .col(string_len(DataProducts::Name, 63))
                    .col(string_len(DataProducts::Domain, 64))
                    .col(string_len(DataProducts::Status, 16))
                    .col(string(DataProducts::OwnerLc))
                    .col(text(DataProducts::DescriptionLc))
                    .col(json_binary(DataProducts::Metadata))
                    .col(json_binary(DataProducts::TableNames))
                    .col(big_integer(DataProducts::LatestVersionId))
                    .col(integer(DataProducts::VersionMajor))
                    .col(integer(DataProducts::VersionMinor))
                    .col(timestamp_with_time_zone(DataProducts::CreatedAt))
                    .col(string(DataProducts::CreatedBy))
                    .col(timestamp_with_time_zone(DataProducts::UpdatedAt))
                    .col(string(DataProducts::UpdatedBy))
                    .col(timestamp_with_time_zone_null(DataProducts::DeletedAt))
                    .to_owned(),
            )
            .await?;
        // The name is reserved for as long as the row exists (soft-deleted products keep it).
        manager
            .create_index(
                Index::create()
                    .name("data_products_name_key")
                    .table(DataProducts::Table)
                    .col(DataProducts::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("data_products_domain_name_idx", DataProducts::Domain),
            ("data_products_status_name_idx", DataProducts::Status),
            ("data_products_owner_name_idx", DataProducts::OwnerLc),
        ] {
            manager
                .create_index(
                    Index::create().name(name).table(DataProducts::Table).col(col).col(DataProducts::Name).to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(DataProductTags::Table)
                    .col(big_integer(DataProductTags::ProductId))
                    .col(string_len(DataProductTags::Key, 64))
                    .col(string_len(DataProductTags::Value, 256))
                    .primary_key(Index::create().col(DataProductTags::ProductId).col(DataProductTags::Key))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DataProductTags::Table, DataProductTags::ProductId)
                            .to(DataProducts::Table, DataProducts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("data_product_tags_key_value_idx")
                    .table(DataProductTags::Table)
                    .col(DataProductTags::Key)
                    .col(DataProductTags::Value)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(DataProductVersions::Table)
                    .col(big_pk_auto(DataProductVersions::Id))
                    .col(big_integer(DataProductVersions::ProductId))
                    .col(integer(DataProductVersions::Major))
                    .col(integer(DataProductVersions::Minor))
                    .col(string_len(DataProductVersions::ChangeType, 8))
                    .col(json_binary(DataProductVersions::Changes))
                    .col(json_binary(DataProductVersions::Metadata))
                    .col(json_binary(DataProductVersions::TableNames))
                    .col(timestamp_with_time_zone(DataProductVersions::CreatedAt))
                    .col(string(DataProductVersions::CreatedBy))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DataProductVersions::Table, DataProductVersions::ProductId)
                            .to(DataProducts::Table, DataProducts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("data_product_versions_number_key")
                    .table(DataProductVersions::Table)
                    .col(DataProductVersions::ProductId)
                    .col(DataProductVersions::Major)
                    .col(DataProductVersions::Minor)
                    .unique()
                    .to_owned(),
            )
            .await?;

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
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TableSchemas::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(DataProductVersions::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(DataProductTags::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(DataProducts::Table).to_owned()).await
    }
}
