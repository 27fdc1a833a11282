//! Tracked uploads: one row per presigned upload, from `pending` to `validated`,
//! `rejected` or `expired`. `lease_until` lets many reconciler replicas share the work:
//! a replica checks a row only once its lease has run out.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Uploads {
    Table,
    Seq,
    Id,
    DataProduct,
    Version,
    TableName,
    Columns,
    Filename,
    Format,
    ContentType,
    ContentLength,
    ContentMd5,
    Bucket,
    ObjectKey,
    MultipartId,
    PartSize,
    Status,
    Size,
    Etag,
    ReceivedAt,
    Rejection,
    ExpiresAt,
    LeaseUntil,
    CreatedAt,
    CreatedBy,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Uploads::Table)
                    .col(big_pk_auto(Uploads::Seq))
                    .col(string_len(Uploads::Id, 36))
                    .col(string_len(Uploads::DataProduct, 63))
                    .col(string_len(Uploads::Version, 32))
                    .col(string_len(Uploads::TableName, 128))
                    .col(json_binary(Uploads::Columns))
                    .col(string_len(Uploads::Filename, 1024))
                    .col(string_len(Uploads::Format, 16))
                    .col(string_len_null(Uploads::ContentType, 255))
                    .col(big_integer(Uploads::ContentLength))
                    .col(string_len(Uploads::ContentMd5, 24))
                    .col(string_len(Uploads::Bucket, 255))
                    .col(string_len(Uploads::ObjectKey, 1024))
                    .col(text_null(Uploads::MultipartId))
                    .col(big_integer_null(Uploads::PartSize))
                    .col(string_len(Uploads::Status, 16))
                    .col(big_integer_null(Uploads::Size))
                    .col(string_len_null(Uploads::Etag, 128))
                    .col(timestamp_with_time_zone_null(Uploads::ReceivedAt))
                    .col(text_null(Uploads::Rejection))
                    .col(timestamp_with_time_zone(Uploads::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Uploads::LeaseUntil))
                    .col(timestamp_with_time_zone(Uploads::CreatedAt))
                    .col(string(Uploads::CreatedBy))
                    .col(timestamp_with_time_zone(Uploads::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("uploads_id_key").table(Uploads::Table).col(Uploads::Id).unique().to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uploads_object_idx")
                    .table(Uploads::Table)
                    .col(Uploads::Bucket)
                    .col(Uploads::ObjectKey)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uploads_product_seq_idx")
                    .table(Uploads::Table)
                    .col(Uploads::DataProduct)
                    .col(Uploads::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uploads_status_lease_idx")
                    .table(Uploads::Table)
                    .col(Uploads::Status)
                    .col(Uploads::LeaseUntil)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Uploads::Table).to_owned()).await
    }
}
