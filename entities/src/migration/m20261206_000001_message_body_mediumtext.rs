//! Message bodies on MySQL/MariaDB become `MEDIUMTEXT` (up to 16 MiB − 1 byte).
//!
//! `TEXT` holds 65,535 bytes there, one less than the default largest body (64 KiB), and a
//! server without strict mode cuts a longer value silently while the sender's ack shows all
//! of it. SQLite's and PostgreSQL's `text` have no such limit, so this changes nothing on
//! them.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

/// See the module's documentation.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        body_type(manager, "MEDIUMTEXT").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        body_type(manager, "TEXT").await
    }
}

/// Gives `messages.body` the type `sql_type` on MySQL/MariaDB; nothing elsewhere.
async fn body_type(manager: &SchemaManager<'_>, sql_type: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::MySql {
        return Ok(());
    }
    manager
        .alter_table(
            Table::alter()
                .table(Messages::Table)
                .modify_column(
                    ColumnDef::new(Messages::Body)
                        .custom(Alias::new(sql_type))
                        .not_null(),
                )
                .to_owned(),
        )
        .await
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Body,
}
