//! Accounts: `sessions` (one per login, holding the hash of its rotating refresh token),
//! and on `users` what an account carries beyond its name: when it was disabled or
//! deleted, its privacy settings and its avatar.

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
                d.table(Sessions::Table)
                    .col(id(Sessions::Id).primary_key())
                    .col(id(Sessions::UserId))
                    .col(string_len(Sessions::RefreshHash, 64))
                    .col(string_len_null(Sessions::PreviousHash, 64))
                    .col(string_len(Sessions::Device, 64))
                    .col(string_len(Sessions::UserAgent, 256))
                    .col(d.instant(Sessions::CreatedAt))
                    .col(d.instant(Sessions::LastUsedAt))
                    .col(d.instant(Sessions::ExpiresAt))
                    .col(d.instant_null(Sessions::RevokedAt))
                    .col(string_len_null(Sessions::RevokedReason, 16))
                    .to_owned(),
            )
            .await?;
        // A user's sessions are listed and revoked together; every node looks for the
        // sessions that ended lately, to close their sockets.
        for (name, column) in [
            ("idx_sessions_user_id", Sessions::UserId),
            ("idx_sessions_revoked_at", Sessions::RevokedAt),
            ("idx_sessions_expires_at", Sessions::ExpiresAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Sessions::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        // One column an ALTER: SQLite takes no more.
        let columns = [
            d.instant_null(Users::DisabledAt),
            d.instant_null(Users::DeletedAt),
            string_len(Users::GroupInvites, 16)
                .default("contacts")
                .to_owned(),
            string_len(Users::PresenceVisibility, 16)
                .default("everyone")
                .to_owned(),
            string_len_null(Users::Avatar, 36),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Users::DisabledAt,
            Users::DeletedAt,
            Users::GroupInvites,
            Users::PresenceVisibility,
            Users::Avatar,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Sessions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    RefreshHash,
    PreviousHash,
    Device,
    UserAgent,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
    RevokedReason,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    DisabledAt,
    DeletedAt,
    GroupInvites,
    PresenceVisibility,
    Avatar,
}
