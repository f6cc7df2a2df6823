//! Indexes for accounts and moderation: a user's messages in id order (the export pages
//! through them), and one report per reporter and message.

use sea_orm_migration::prelude::*;

/// See the module's documentation.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_sender_id_id")
                    .table(Messages::Table)
                    .col(Messages::SenderId)
                    .col(Messages::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_reports_reporter_message")
                    .table(Reports::Table)
                    .col(Reports::ReporterId)
                    .col(Reports::ConversationId)
                    .col(Reports::Seq)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_reports_reporter_message")
                    .table(Reports::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_messages_sender_id_id")
                    .table(Messages::Table)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    SenderId,
    Id,
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    ReporterId,
    ConversationId,
    Seq,
}
