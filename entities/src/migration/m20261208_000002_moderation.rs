//! Moderation: `users.is_admin`, the users' `reports` of messages, and the `audit_log` of
//! what administrators did (only ever appended to).

use sea_orm_migration::{prelude::*, schema::*};

use super::m20261122_000001_initial::{CONVERSATION_ID_LEN, Dialect, id};

/// See the module's documentation.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let d = Dialect(manager.get_database_backend());
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(boolean(Users::IsAdmin).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                d.table(Reports::Table)
                    .col(id(Reports::Id).primary_key())
                    .col(id(Reports::ReporterId))
                    .col(string_len(Reports::ConversationId, CONVERSATION_ID_LEN))
                    .col(big_integer(Reports::Seq))
                    .col(text(Reports::Reason))
                    .col(string_len(Reports::Status, 16))
                    .col(d.instant(Reports::CreatedAt))
                    .col(d.instant_null(Reports::ResolvedAt))
                    .col(string_len_null(Reports::ResolvedBy, 36))
                    .col(text_null(Reports::Resolution))
                    .to_owned(),
            )
            .await?;
        // Admins page through the open ones, oldest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_reports_status_id")
                    .table(Reports::Table)
                    .col(Reports::Status)
                    .col(Reports::Id)
                    .to_owned(),
            )
            .await?;
        // Paged newest first by id (UUIDv7, so by time): the primary key is enough.
        manager
            .create_table(
                d.table(AuditLog::Table)
                    .col(id(AuditLog::Id).primary_key())
                    .col(string_len(AuditLog::Actor, 64))
                    .col(string_len(AuditLog::Action, 32))
                    .col(string_len(AuditLog::TargetKind, 16))
                    .col(string_len(AuditLog::TargetId, CONVERSATION_ID_LEN + 24))
                    .col(text(AuditLog::Detail))
                    .col(d.instant(AuditLog::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLog::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Reports::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::IsAdmin)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    IsAdmin,
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    Id,
    ReporterId,
    ConversationId,
    Seq,
    Reason,
    Status,
    CreatedAt,
    ResolvedAt,
    ResolvedBy,
    Resolution,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    Actor,
    Action,
    TargetKind,
    TargetId,
    Detail,
    CreatedAt,
}
