//! The webhook outbox: `webhook_events`, read by `next_attempt_at`.

use sea_orm_migration::{prelude::*, schema::*};

use super::m20261122_000001_initial::{Dialect, id};

/// See the module's documentation.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let d = Dialect(manager.get_database_backend());
        manager
            .create_table(
                d.table(WebhookEvents::Table)
                    .col(id(WebhookEvents::Id).primary_key())
                    .col(id(WebhookEvents::EventId))
                    .col(text(WebhookEvents::Endpoint))
                    .col(string_len(WebhookEvents::Kind, 32))
                    .col(text(WebhookEvents::Payload))
                    .col(integer(WebhookEvents::Attempts).default(0))
                    .col(d.instant(WebhookEvents::NextAttemptAt))
                    .col(d.instant(WebhookEvents::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // The dispatcher takes what is due, oldest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_events_next_attempt_at")
                    .table(WebhookEvents::Table)
                    .col(WebhookEvents::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum WebhookEvents {
    Table,
    Id,
    EventId,
    Endpoint,
    Kind,
    Payload,
    Attempts,
    NextAttemptAt,
    CreatedAt,
}
