//! The change feed (`events`, ordered by `seq`) and stored idempotency keys.
//! `seq` only grows, and events are appended under one lock so `seq` order is commit order.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Seq,
    Id,
    EventType,
    DataProduct,
    Version,
    TableName,
    OccurredAt,
    Actor,
    Data,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Principal,
    Key,
    Fingerprint,
    State,
    LockedUntil,
    ResponseStatus,
    ResponseHeaders,
    ResponseBody,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(big_pk_auto(Events::Seq))
                    .col(string_len(Events::Id, 36))
                    .col(string_len(Events::EventType, 64))
                    .col(string_len(Events::DataProduct, 63))
                    .col(string_len_null(Events::Version, 32))
                    .col(string_len_null(Events::TableName, 128))
                    .col(timestamp_with_time_zone(Events::OccurredAt))
                    .col(string(Events::Actor))
                    .col(json_binary(Events::Data))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("events_id_key").table(Events::Table).col(Events::Id).unique().to_owned(),
            )
            .await?;
        for (name, col) in
            [("events_data_product_seq_idx", Events::DataProduct), ("events_type_seq_idx", Events::EventType)]
        {
            manager
                .create_index(Index::create().name(name).table(Events::Table).col(col).col(Events::Seq).to_owned())
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(string(IdempotencyKeys::Principal))
                    .col(string_len(IdempotencyKeys::Key, 255))
                    .col(string_len(IdempotencyKeys::Fingerprint, 64))
                    .col(string_len(IdempotencyKeys::State, 16))
                    .col(timestamp_with_time_zone(IdempotencyKeys::LockedUntil))
                    .col(integer_null(IdempotencyKeys::ResponseStatus))
                    .col(json_binary_null(IdempotencyKeys::ResponseHeaders))
                    .col(text_null(IdempotencyKeys::ResponseBody))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .col(timestamp_with_time_zone(IdempotencyKeys::ExpiresAt))
                    .primary_key(Index::create().col(IdempotencyKeys::Principal).col(IdempotencyKeys::Key))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idempotency_keys_expires_at_idx")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Events::Table).to_owned()).await
    }
}
