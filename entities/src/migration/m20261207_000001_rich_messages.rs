//! Rich messages: edits and deletions as entries of their own, replies, mentions,
//! disappearing messages and reactions.
//!
//! - `messages` gains `kind` (`message`, `edit`, `delete`), `target_seq` (the message an
//!   edit or deletion changes), `reply_to`, `mentions`, `edited_at`, `deleted_at` and
//!   `expires_at`. Existing rows become plain messages.
//! - `conversations` gains `expire_secs`: how long a new message lives there (`NULL`: for
//!   ever).
//! - `reactions`: who reacted to which message with what, one row each.
//!
//! SQLite adds one column per `ALTER TABLE`, so every column is its own statement. The
//! index on `expires_at` is partial on PostgreSQL and SQLite (only messages that expire are
//! in it, so the others cost it nothing); MySQL/MariaDB have no partial indexes and index
//! every row.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

use super::m20261122_000001_initial::{CONVERSATION_ID_LEN, Dialect, TAG_LEN, id, owned_by};

/// Longest emoji (or short reaction name), in characters.
const EMOJI_LEN: u32 = 32;

/// See the module's documentation.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let dialect = Dialect(manager.get_database_backend());
        let columns = [
            string_len(Messages::Kind, TAG_LEN)
                .default("message")
                .to_owned(),
            big_integer_null(Messages::TargetSeq),
            big_integer_null(Messages::ReplyTo),
            json_binary_null(Messages::Mentions),
            dialect.instant_null(Messages::EditedAt),
            dialect.instant_null(Messages::DeletedAt),
            dialect.instant_null(Messages::ExpiresAt),
        ];
        for column in columns {
            alter(
                manager,
                Table::alter().table(Messages::Table).add_column(column),
            )
            .await?;
        }
        let expire_secs = big_integer_null(Conversations::ExpireSecs);
        alter(
            manager,
            Table::alter()
                .table(Conversations::Table)
                .add_column(expire_secs),
        )
        .await?;
        manager.create_table(reactions(&dialect)).await?;
        expiry_index(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Reactions::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_messages_expires_at")
                    .table(Messages::Table)
                    .to_owned(),
            )
            .await?;
        alter(
            manager,
            Table::alter()
                .table(Conversations::Table)
                .drop_column(Conversations::ExpireSecs),
        )
        .await?;
        let columns = [
            Messages::Kind,
            Messages::TargetSeq,
            Messages::ReplyTo,
            Messages::Mentions,
            Messages::EditedAt,
            Messages::DeletedAt,
            Messages::ExpiresAt,
        ];
        for column in columns {
            alter(
                manager,
                Table::alter().table(Messages::Table).drop_column(column),
            )
            .await?;
        }
        Ok(())
    }
}

/// Runs one `ALTER TABLE` (SQLite takes one change at a time).
async fn alter(
    manager: &SchemaManager<'_>,
    statement: &mut TableAlterStatement,
) -> Result<(), DbErr> {
    manager.alter_table(statement.to_owned()).await
}

fn reactions(d: &Dialect) -> TableCreateStatement {
    d.table(Reactions::Table)
        .col(string_len(Reactions::ConversationId, CONVERSATION_ID_LEN))
        .col(big_integer(Reactions::Seq))
        .col(id(Reactions::UserId))
        .col(string_len(Reactions::Emoji, EMOJI_LEN))
        .col(d.instant(Reactions::CreatedAt))
        // Also the index of "the reactions to these messages".
        .primary_key(
            Index::create()
                .col(Reactions::ConversationId)
                .col(Reactions::Seq)
                .col(Reactions::UserId)
                .col(Reactions::Emoji),
        )
        .foreign_key(&mut owned_by(
            "fk_reactions_conversation_id",
            (Reactions::Table, Reactions::ConversationId),
            (Conversations::Table, Conversations::Id),
        ))
        .to_owned()
}

/// The sweep of expired messages reads them by `expires_at`.
async fn expiry_index(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    if manager.get_database_backend() == DbBackend::MySql {
        return manager
            .create_index(
                Index::create()
                    .name("idx_messages_expires_at")
                    .table(Messages::Table)
                    .col(Messages::ExpiresAt)
                    .to_owned(),
            )
            .await;
    }
    manager
        .get_connection()
        .execute_unprepared(
            "CREATE INDEX idx_messages_expires_at ON messages (expires_at) \
             WHERE expires_at IS NOT NULL",
        )
        .await
        .map(|_| ())
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Kind,
    TargetSeq,
    ReplyTo,
    Mentions,
    EditedAt,
    DeletedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    ExpireSecs,
}

#[derive(DeriveIden)]
enum Reactions {
    Table,
    ConversationId,
    Seq,
    UserId,
    Emoji,
    CreatedAt,
}
