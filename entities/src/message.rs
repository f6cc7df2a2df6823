//! `messages`: every message ever acknowledged, keyed for history/sync by
//! (conversation_id, seq) and for idempotent sends by (sender_id, client_msg_id), both unique.

use sea_orm::entity::prelude::*;

/// One stored message.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    /// UUIDv7, hyphenated.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(36))"
    )]
    pub id: String,
    /// The conversation; the message is deleted with it.
    #[sea_orm(column_type = "String(StringLen::N(96))")]
    pub conversation_id: String,
    /// Position in the conversation: 1, 2, 3, ... Unique per conversation.
    pub seq: i64,
    /// The author's user id (no foreign key: the write path stays lean).
    #[sea_orm(column_type = "String(StringLen::N(36))")]
    pub sender_id: String,
    /// The text (`MEDIUMTEXT` on MySQL/MariaDB, so that it holds the largest body).
    #[sea_orm(column_type = "Text")]
    pub body: String,
    /// Free-form client data (jsonb on PostgreSQL, json on MySQL, text on SQLite).
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub meta: Option<Json>,
    /// The sender's id for the message; unique per sender, so a retried send finds the first.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub client_msg_id: String,
    /// When the message was stored.
    pub created_at: DateTimeUtc,
}

/// The message's conversation.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `conversation_id` → `conversations.id`, on delete cascade.
    #[sea_orm(
        belongs_to = "super::conversation::Entity",
        from = "Column::ConversationId",
        to = "super::conversation::Column::Id",
        on_delete = "Cascade"
    )]
    Conversation,
}

impl Related<super::conversation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Conversation.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
