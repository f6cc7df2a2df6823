//! Attachments: the `attachments` table, and `messages.attachments`, the views of the
//! files a message carries (a JSON array, so that history needs no join).

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
            .create_table(
                d.table(Attachments::Table)
                    .col(id(Attachments::Id).primary_key())
                    .col(id(Attachments::OwnerId))
                    .col(string_len(Attachments::ContentType, 128))
                    .col(big_integer(Attachments::Size))
                    .col(string_len(Attachments::Name, 255))
                    .col(integer_null(Attachments::Width))
                    .col(integer_null(Attachments::Height))
                    .col(boolean(Attachments::Thumbnail).default(false))
                    .col(string_len_null(
                        Attachments::ConversationId,
                        CONVERSATION_ID_LEN,
                    ))
                    .col(d.instant(Attachments::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // A user's quota: the sum of their uploads.
        manager
            .create_index(
                Index::create()
                    .name("idx_attachments_owner_id")
                    .table(Attachments::Table)
                    .col(Attachments::OwnerId)
                    .to_owned(),
            )
            .await?;
        // The sweep of uploads no message took.
        manager
            .create_index(
                Index::create()
                    .name("idx_attachments_conversation_created")
                    .table(Attachments::Table)
                    .col(Attachments::ConversationId)
                    .col(Attachments::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .add_column(json_binary_null(Messages::Attachments))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .drop_column(Messages::Attachments)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Attachments::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Attachments {
    Table,
    Id,
    OwnerId,
    ContentType,
    Size,
    Name,
    Width,
    Height,
    Thumbnail,
    ConversationId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Attachments,
}
