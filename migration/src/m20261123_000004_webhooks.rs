//! Webhook subscriptions and their delivery log. A subscription's `cursor` is the `seq`
//! of the last event it is done with; the delivery worker leases a subscription
//! (`lease_owner`, `lease_until`) before it delivers, so no two replicas deliver the same
//! event at once.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookSubscriptions {
    Table,
    Id,
    Url,
    Secret,
    EventTypes,
    DataProducts,
    Description,
    Status,
    PausedReason,
    Cursor,
    LeaseOwner,
    LeaseUntil,
    NextAttemptAt,
    Attempt,
    FirstFailureAt,
    CreatedAt,
    CreatedBy,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    SubscriptionId,
    EventId,
    EventSeq,
    Attempt,
    Outcome,
    ResponseStatus,
    LatencyMs,
    Error,
    AttemptedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookSubscriptions::Table)
                    .col(string_len(WebhookSubscriptions::Id, 36).primary_key())
                    .col(string_len(WebhookSubscriptions::Url, 2048))
                    .col(string_len(WebhookSubscriptions::Secret, 128))
                    .col(json_binary(WebhookSubscriptions::EventTypes))
                    .col(json_binary(WebhookSubscriptions::DataProducts))
                    .col(string_len_null(WebhookSubscriptions::Description, 1024))
                    .col(string_len(WebhookSubscriptions::Status, 16))
                    .col(text_null(WebhookSubscriptions::PausedReason))
                    .col(big_integer(WebhookSubscriptions::Cursor))
                    .col(string_len_null(WebhookSubscriptions::LeaseOwner, 36))
                    .col(timestamp_with_time_zone_null(WebhookSubscriptions::LeaseUntil))
                    .col(timestamp_with_time_zone(WebhookSubscriptions::NextAttemptAt))
                    .col(integer(WebhookSubscriptions::Attempt))
                    .col(timestamp_with_time_zone_null(WebhookSubscriptions::FirstFailureAt))
                    .col(timestamp_with_time_zone(WebhookSubscriptions::CreatedAt))
                    .col(string(WebhookSubscriptions::CreatedBy))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_subscriptions_due_idx")
                    .table(WebhookSubscriptions::Table)
                    .col(WebhookSubscriptions::Status)
                    .col(WebhookSubscriptions::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(big_pk_auto(WebhookDeliveries::Id))
                    .col(string_len(WebhookDeliveries::SubscriptionId, 36))
                    .col(string_len(WebhookDeliveries::EventId, 36))
                    .col(big_integer(WebhookDeliveries::EventSeq))
                    .col(integer(WebhookDeliveries::Attempt))
                    .col(string_len(WebhookDeliveries::Outcome, 16))
                    .col(integer_null(WebhookDeliveries::ResponseStatus))
                    .col(big_integer(WebhookDeliveries::LatencyMs))
                    .col(text_null(WebhookDeliveries::Error))
                    .col(timestamp_with_time_zone(WebhookDeliveries::AttemptedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("webhook_deliveries_subscription_fk")
                            .from(WebhookDeliveries::Table, WebhookDeliveries::SubscriptionId)
                            .to(WebhookSubscriptions::Table, WebhookSubscriptions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_subscription_idx")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::SubscriptionId)
                    .col(WebhookDeliveries::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(WebhookSubscriptions::Table).to_owned()).await
    }
}
