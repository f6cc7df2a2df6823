//! The initial schema: users, settings, groups, conversations, messages, contacts, blocks and
//! read cursors.
//!
//! Portability rules this file follows, because it runs unchanged on SQLite, PostgreSQL and
//! MySQL/MariaDB:
//! - every string that is indexed or part of a key has an explicit length (MySQL cannot index
//!   `TEXT`);
//! - index and foreign-key names are prefixed with their table, since PostgreSQL and SQLite
//!   want index names unique per schema and MySQL wants foreign-key names unique per database;
//! - foreign keys are declared inside `CREATE TABLE`, the only place SQLite accepts them;
//! - on MySQL, tables are InnoDB in `utf8mb4` (chat bodies carry emoji) with the binary
//!   collation, so keys compare byte for byte (case-sensitive) as they do on the other two, and
//!   timestamps are `DATETIME(6)` holding UTC, because MySQL's `TIMESTAMP` keeps whole seconds.
//!   (sqlx pins MySQL sessions to `+00:00`, which is what makes `DATETIME` UTC. It also sends
//!   instants typed as `TIMESTAMP`, so MySQL still cannot take one after 2038-01-19.)

use sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

/// Length of a UUIDv7 in hyphenated form: the shape of every user, group and message id.
const ID_LEN: u32 = 36;
/// Length of a conversation id, which the node derives from two user ids or a group id.
pub(super) const CONVERSATION_ID_LEN: u32 = 96;
/// Length of the short tags stored from the entity enums (role, kind, status).
pub(super) const TAG_LEN: u32 = 16;

/// Creates the initial schema; `down` drops all of it.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let dialect = Dialect(manager.get_database_backend());
        // Parents before children, so every foreign key finds its table.
        let tables = [
            users(&dialect),
            server_settings(&dialect),
            groups(&dialect),
            group_members(&dialect),
            conversations(&dialect),
            messages(&dialect),
            contact_requests(&dialect),
            contacts(&dialect),
            blocks(&dialect),
            read_cursors(&dialect),
        ];
        for table in tables {
            manager.create_table(table).await?;
        }
        for index in indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents; dropping a table drops its indexes.
        let tables: [DynIden; 10] = [
            ReadCursors::Table.into_iden(),
            Blocks::Table.into_iden(),
            Contacts::Table.into_iden(),
            ContactRequests::Table.into_iden(),
            Messages::Table.into_iden(),
            Conversations::Table.into_iden(),
            GroupMembers::Table.into_iden(),
            Groups::Table.into_iden(),
            ServerSettings::Table.into_iden(),
            Users::Table.into_iden(),
        ];
        for table in tables {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// The few column and table shapes that differ between backends.
pub(super) struct Dialect(pub(super) DbBackend);

impl Dialect {
    /// A `CREATE TABLE` with the table options MySQL needs (none elsewhere).
    pub(super) fn table(&self, name: impl IntoTableRef) -> TableCreateStatement {
        let mut table = Table::create();
        table.table(name);
        if self.0 == DbBackend::MySql {
            table
                .engine("InnoDB")
                .character_set("utf8mb4")
                .collate("utf8mb4_bin");
        }
        table
    }

    /// A non-null UTC instant with microsecond precision.
    pub(super) fn instant(&self, col: impl IntoIden) -> ColumnDef {
        let mut col = self.instant_null(col);
        col.not_null();
        col
    }

    /// A nullable UTC instant with microsecond precision.
    pub(super) fn instant_null(&self, col: impl IntoIden) -> ColumnDef {
        let mut def = ColumnDef::new(col);
        match self.0 {
            DbBackend::MySql => def.custom(Alias::new("datetime(6)")),
            _ => def.timestamp_with_time_zone(),
        };
        def.null();
        def
    }
}

/// An id column: a hyphenated UUIDv7.
pub(super) fn id(col: impl IntoIden) -> ColumnDef {
    string_len(col, ID_LEN)
}

/// A foreign key named after its table and column.
fn foreign_key(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .to_owned()
}

/// A foreign key whose rows go away with the row they point to.
pub(super) fn owned_by(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    let mut fk = foreign_key(name, from, to);
    fk.on_delete(ForeignKeyAction::Cascade);
    fk
}

fn users(d: &Dialect) -> TableCreateStatement {
    d.table(Users::Table)
        .col(id(Users::Id).primary_key())
        .col(string_len(Users::Username, 64))
        .col(string_len(Users::DisplayName, 128))
        .col(text(Users::PasswordHash))
        .col(d.instant(Users::CreatedAt))
        .col(d.instant_null(Users::LastSeenAt))
        .to_owned()
}

fn server_settings(d: &Dialect) -> TableCreateStatement {
    d.table(ServerSettings::Table)
        .col(string_len(ServerSettings::Key, 64).primary_key())
        .col(text(ServerSettings::Value))
        .to_owned()
}

fn groups(d: &Dialect) -> TableCreateStatement {
    d.table(Groups::Table)
        .col(id(Groups::Id).primary_key())
        .col(string_len(Groups::Name, 128))
        .col(boolean(Groups::Public))
        .col(id(Groups::OwnerId))
        .col(d.instant(Groups::CreatedAt))
        .foreign_key(&mut foreign_key(
            "fk_groups_owner_id",
            (Groups::Table, Groups::OwnerId),
            (Users::Table, Users::Id),
        ))
        .to_owned()
}

fn group_members(d: &Dialect) -> TableCreateStatement {
    d.table(GroupMembers::Table)
        .col(id(GroupMembers::GroupId))
        .col(id(GroupMembers::UserId))
        .col(string_len(GroupMembers::Role, TAG_LEN))
        .col(d.instant(GroupMembers::JoinedAt))
        .primary_key(
            Index::create()
                .col(GroupMembers::GroupId)
                .col(GroupMembers::UserId),
        )
        .foreign_key(&mut owned_by(
            "fk_group_members_group_id",
            (GroupMembers::Table, GroupMembers::GroupId),
            (Groups::Table, Groups::Id),
        ))
        .foreign_key(&mut foreign_key(
            "fk_group_members_user_id",
            (GroupMembers::Table, GroupMembers::UserId),
            (Users::Table, Users::Id),
        ))
        .to_owned()
}

fn conversations(d: &Dialect) -> TableCreateStatement {
    d.table(Conversations::Table)
        .col(string_len(Conversations::Id, CONVERSATION_ID_LEN).primary_key())
        .col(string_len(Conversations::Kind, TAG_LEN))
        .col(string_len_null(Conversations::GroupId, ID_LEN))
        .col(string_len_null(Conversations::UserA, ID_LEN))
        .col(string_len_null(Conversations::UserB, ID_LEN))
        .col(big_integer(Conversations::LastSeq).default(0i64))
        .col(d.instant(Conversations::CreatedAt))
        .foreign_key(&mut owned_by(
            "fk_conversations_group_id",
            (Conversations::Table, Conversations::GroupId),
            (Groups::Table, Groups::Id),
        ))
        .foreign_key(&mut foreign_key(
            "fk_conversations_user_a",
            (Conversations::Table, Conversations::UserA),
            (Users::Table, Users::Id),
        ))
        .foreign_key(&mut foreign_key(
            "fk_conversations_user_b",
            (Conversations::Table, Conversations::UserB),
            (Users::Table, Users::Id),
        ))
        .to_owned()
}

fn messages(d: &Dialect) -> TableCreateStatement {
    d.table(Messages::Table)
        .col(id(Messages::Id).primary_key())
        .col(string_len(Messages::ConversationId, CONVERSATION_ID_LEN))
        .col(big_integer(Messages::Seq))
        // No foreign key to `users`: the hot write path stays lean, and a message outlives
        // nothing it depends on but its conversation.
        .col(id(Messages::SenderId))
        .col(text(Messages::Body))
        .col(json_binary_null(Messages::Meta))
        .col(string_len(Messages::ClientMsgId, 64))
        .col(d.instant(Messages::CreatedAt))
        .foreign_key(&mut owned_by(
            "fk_messages_conversation_id",
            (Messages::Table, Messages::ConversationId),
            (Conversations::Table, Conversations::Id),
        ))
        .to_owned()
}

fn contact_requests(d: &Dialect) -> TableCreateStatement {
    d.table(ContactRequests::Table)
        .col(id(ContactRequests::Id).primary_key())
        .col(id(ContactRequests::FromUser))
        .col(id(ContactRequests::ToUser))
        .col(string_len(ContactRequests::Status, TAG_LEN))
        .col(d.instant(ContactRequests::CreatedAt))
        .col(d.instant(ContactRequests::UpdatedAt))
        .foreign_key(&mut foreign_key(
            "fk_contact_requests_from_user",
            (ContactRequests::Table, ContactRequests::FromUser),
            (Users::Table, Users::Id),
        ))
        .foreign_key(&mut foreign_key(
            "fk_contact_requests_to_user",
            (ContactRequests::Table, ContactRequests::ToUser),
            (Users::Table, Users::Id),
        ))
        .to_owned()
}

fn contacts(d: &Dialect) -> TableCreateStatement {
    d.table(Contacts::Table)
        .col(id(Contacts::UserId))
        .col(id(Contacts::ContactId))
        .col(d.instant(Contacts::CreatedAt))
        .primary_key(
            Index::create()
                .col(Contacts::UserId)
                .col(Contacts::ContactId),
        )
        .foreign_key(&mut foreign_key(
            "fk_contacts_user_id",
            (Contacts::Table, Contacts::UserId),
            (Users::Table, Users::Id),
        ))
        .foreign_key(&mut foreign_key(
            "fk_contacts_contact_id",
            (Contacts::Table, Contacts::ContactId),
            (Users::Table, Users::Id),
        ))
        .to_owned()
}

fn blocks(d: &Dialect) -> TableCreateStatement {
    d.table(Blocks::Table)
        .col(id(Blocks::UserId))
        .col(id(Blocks::BlockedId))
        .col(d.instant(Blocks::CreatedAt))
        .primary_key(Index::create().col(Blocks::UserId).col(Blocks::BlockedId))
        .foreign_key(&mut foreign_key(
            "fk_blocks_user_id",
            (Blocks::Table, Blocks::UserId),
            (Users::Table, Users::Id),
        ))
        .foreign_key(&mut foreign_key(
            "fk_blocks_blocked_id",
            (Blocks::Table, Blocks::BlockedId),
            (Users::Table, Users::Id),
        ))
        .to_owned()
}

fn read_cursors(d: &Dialect) -> TableCreateStatement {
    d.table(ReadCursors::Table)
        .col(string_len(ReadCursors::ConversationId, CONVERSATION_ID_LEN))
        .col(id(ReadCursors::UserId))
        .col(big_integer(ReadCursors::Seq))
        .col(d.instant(ReadCursors::UpdatedAt))
        .primary_key(
            Index::create()
                .col(ReadCursors::ConversationId)
                .col(ReadCursors::UserId),
        )
        .foreign_key(&mut owned_by(
            "fk_read_cursors_conversation_id",
            (ReadCursors::Table, ReadCursors::ConversationId),
            (Conversations::Table, Conversations::Id),
        ))
        .foreign_key(&mut foreign_key(
            "fk_read_cursors_user_id",
            (ReadCursors::Table, ReadCursors::UserId),
            (Users::Table, Users::Id),
        ))
        .to_owned()
}

/// The secondary indexes, each with the query it serves.
fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        // Usernames are unique; the node stores them in one canonical form.
        Index::create()
            .name("idx_users_username")
            .table(Users::Table)
            .col(Users::Username)
            .unique()
            .to_owned(),
        // "My groups".
        Index::create()
            .name("idx_group_members_user_id")
            .table(GroupMembers::Table)
            .col(GroupMembers::UserId)
            .to_owned(),
        // A group's conversation.
        Index::create()
            .name("idx_conversations_group_id")
            .table(Conversations::Table)
            .col(Conversations::GroupId)
            .to_owned(),
        // "My direct conversations", from either side.
        Index::create()
            .name("idx_conversations_user_a")
            .table(Conversations::Table)
            .col(Conversations::UserA)
            .to_owned(),
        Index::create()
            .name("idx_conversations_user_b")
            .table(Conversations::Table)
            .col(Conversations::UserB)
            .to_owned(),
        // History and sync read a conversation by seq; a seq is never given twice.
        Index::create()
            .name("idx_messages_conversation_seq")
            .table(Messages::Table)
            .col(Messages::ConversationId)
            .col(Messages::Seq)
            .unique()
            .to_owned(),
        // Idempotent send: the same sender and client id always mean the same message.
        Index::create()
            .name("idx_messages_sender_client_msg_id")
            .table(Messages::Table)
            .col(Messages::SenderId)
            .col(Messages::ClientMsgId)
            .unique()
            .to_owned(),
        // Incoming and outgoing requests, by status.
        Index::create()
            .name("idx_contact_requests_to_user_status")
            .table(ContactRequests::Table)
            .col(ContactRequests::ToUser)
            .col(ContactRequests::Status)
            .to_owned(),
        Index::create()
            .name("idx_contact_requests_from_user_status")
            .table(ContactRequests::Table)
            .col(ContactRequests::FromUser)
            .col(ContactRequests::Status)
            .to_owned(),
        // "Who blocked this user", checked before delivering to them.
        Index::create()
            .name("idx_blocks_blocked_id")
            .table(Blocks::Table)
            .col(Blocks::BlockedId)
            .to_owned(),
    ]
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    DisplayName,
    PasswordHash,
    CreatedAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum ServerSettings {
    Table,
    Key,
    Value,
}

#[derive(DeriveIden)]
enum Groups {
    Table,
    Id,
    Name,
    Public,
    OwnerId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum GroupMembers {
    Table,
    GroupId,
    UserId,
    Role,
    JoinedAt,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    Kind,
    GroupId,
    UserA,
    UserB,
    LastSeq,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ConversationId,
    Seq,
    SenderId,
    Body,
    Meta,
    ClientMsgId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ContactRequests {
    Table,
    Id,
    FromUser,
    ToUser,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    UserId,
    ContactId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Blocks {
    Table,
    UserId,
    BlockedId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ReadCursors {
    Table,
    ConversationId,
    UserId,
    Seq,
    UpdatedAt,
}
