//! Row-by-row validation of uploads: `validation` holds the report (rows and bytes checked,
//! violations, samples, whether every row was read); `validation_lease` names the worker
//! that holds a `received` upload (with `lease_until`), and `validation_attempts` counts
//! the times one was taken, so a file that keeps killing its worker is not retried for ever.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Uploads {
    Table,
    Validation,
    ValidationLease,
    ValidationAttempts,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        manager
            .alter_table(
                Table::alter().table(Uploads::Table).add_column(json_binary_null(Uploads::Validation)).to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Uploads::Table)
                    .add_column(string_len_null(Uploads::ValidationLease, 36))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Uploads::Table)
                    .add_column(integer(Uploads::ValidationAttempts).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Uploads::ValidationAttempts, Uploads::ValidationLease, Uploads::Validation] {
            manager.alter_table(Table::alter().table(Uploads::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
